/**
 * Content-Disposition for whatever is sent under a name a person gave (an image's file name, an
 * album's title): shared by the view module's downloads and the albums module's ZIP.
 */

/** RFC 5987 attr-char: everything else is percent-encoded in filename*. */
const encodeRfc5987 = (value: string) =>
  encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/**
 * A Content-Disposition value per RFC 6266: the name in full as UTF-8 in `filename*`, and an
 * ASCII-only `filename` for old clients with quotes, backslashes, separators, `%` and
 * control characters replaced, so user text can never break out of the header.
 */
export function contentDisposition(kind: 'inline' | 'attachment', filename: string): string {
  const fallback = filename
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]|["\\/%;]/g, '_')
    .trim()
  const safeFallback = fallback.replace(/^\.+/, '') || 'image'
  if (safeFallback === filename) return `${kind}; filename="${filename}"`
  return `${kind}; filename="${safeFallback}"; filename*=UTF-8''${encodeRfc5987(filename)}`
}
