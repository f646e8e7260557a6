import { isIPv4 } from 'node:net'
import { domainToASCII } from 'node:url'

/** One DNS label (RFC 1035 §2.3.1, as RFC 1123 §2.1 lets it start with a digit), in ASCII. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/**
 * An entry without what people write around a host, lower case: a pasted URL's scheme, path and
 * port, `*.` or a leading dot (subdomains are allowed anyway), a trailing dot. "Example.com",
 * "https://example.com/x", "*.example.com" → "example.com". The view server reads stored entries
 * through it too, so a list saved before entries were checked (referrerEntryHost) still works.
 */
export function referrerEntryText(entry: string): string {
  return (entry.trim().toLowerCase().replace(/^[a-z][a-z0-9+.-]*:\/\//, '').split(/[/?#]/)[0] ?? '')
    .replace(/:\d{1,5}$/, '')
    .replace(/^\*?\./, '')
    .replace(/\.$/, '')
}

/**
 * The host an `allowed_referrers` entry names (referrerEntryText), as the view server compares it
 * with a Referer's host: an international name in its ASCII (punycode) form, as URL parsing gives
 * a Referer's host (`bücher.de` → `xn--bcher-kva.de`). Null when it is no host name (`.`, `a..b`,
 * `-a.com`, `1.2.3.999`): stored, it would match no Referer, or turn hotlink protection off unnoticed.
 */
export function referrerEntryHost(entry: string): string | null {
  const host = referrerEntryText(entry)
  if (host === '') return null
  // Digits and dots alone are an IPv4 address or nothing: URL parsing would read `1.2.3` as 1.2.0.3.
  if (/^[0-9.]+$/.test(host)) return isIPv4(host) ? host : null
  const ascii = domainToASCII(host)
  if (ascii === '' || ascii.length > 253) return null
  const labels = ascii.split('.')
  return labels.every((label) => LABEL.test(label)) && !/^[0-9]+$/.test(labels.at(-1)!) ? ascii : null
}

/** What an entry may be, for the refusal of one that is none. */
export const REFERRER_ENTRY_RULE = 'a host name such as example.com (its subdomains are allowed too; *.example.com, a URL and an international name such as bücher.de are taken as their host)'
