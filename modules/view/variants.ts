import { BadRequest } from '#core/errors.ts'
import { isImageId } from '#core/images/ids.ts'
import { EXTENSION } from '#core/images/keys.ts'
import type { StoredVariant } from '#core/images/types.ts'
import type { StoredFormat, VariantName } from '#core/media/types.ts'

export const SIZES = ['original', 'medium', 'thumb'] as const satisfies readonly VariantName[]

const FORMAT_OF_EXTENSION: Record<string, StoredFormat> = { jpg: 'jpeg', jpeg: 'jpeg', png: 'png', gif: 'gif', webp: 'webp', avif: 'avif' }

export interface ImageFile {
  id: string
  thumb: boolean
  /** The format the extension names, or undefined for none (then Accept decides). */
  format?: StoredFormat
  /** True when an extension was given but names no format we store: no such representation. */
  unknownExtension: boolean
}

/**
 * `{id}`, `{id}.{ext}`, `{id}_thumb.{ext}`. Ids are exactly 22 base64url characters, which may
 * themselves contain `_`, so the id is cut by length, never by searching for `_thumb`.
 * Anything else, whatever its bytes (Elysia hands over null for broken %-escapes), is null.
 */
export function parseImageFile(file: string | null | undefined, requireExtension: boolean): ImageFile | null {
  if (typeof file !== 'string' || file.length < 22 || file.length > 40) return null
  const id = file.slice(0, 22)
  if (!isImageId(id)) return null
  const match = /^(_thumb)?(?:\.([A-Za-z0-9]{1,5}))?$/.exec(file.slice(22))
  if (!match) return null
  const [, thumb, extension] = match
  if (requireExtension && extension === undefined) return null
  const format = extension === undefined ? undefined : FORMAT_OF_EXTENSION[extension.toLowerCase()]
  return { id, thumb: thumb !== undefined, format, unknownExtension: extension !== undefined && format === undefined }
}

/**
 * `?size=` wins over a `_thumb` path. Unknown sizes, the empty one included, are the client's
 * mistake, named in a 400: served as the original, every misspelt link would cost a full download.
 */
export function requestedSize(size: string | undefined, thumbPath: boolean): VariantName {
  if (size === undefined) return thumbPath ? 'thumb' : 'original'
  if ((SIZES as readonly string[]).includes(size)) return size as VariantName
  throw invalidSize(`Unknown size ${JSON.stringify(size.slice(0, 40))}`)
}

/** Two sizes in one URL: which one was meant is anyone's guess (Elysia keeps the last). */
export const repeatedSize = () => invalidSize('Give size at most once')

const invalidSize = (problem: string) => new BadRequest(`${problem}; valid sizes: ${SIZES.join(', ')}`, 'invalid_size')

export interface VariantChoice {
  variant: StoredVariant
  /** A WebP twin could have been chosen by Accept: the response must say Vary: Accept. */
  negotiated: boolean
}

/**
 * The stored object for a request. `medium` is only made when it is smaller than the original,
 * so a missing medium (or thumb) falls back to the next larger size. An extension asks for that
 * exact format; without one a WebP twin is served when the client accepts WebP and it is smaller.
 * A twin may be stored without its own-format sibling (a small animated GIF's GIF thumb can come
 * out heavier than the original, its WebP thumb not; a size is dropped for weight only when the
 * original fits its bound): it then stands against the larger size that would be served
 * instead, or the GIF's thumb link would cost the whole original.
 */
export function chooseVariant(variants: StoredVariant[], imageFormat: StoredFormat, size: VariantName, format: StoredFormat | undefined, webpAccepted: boolean): VariantChoice | null {
  const order = SIZES.slice(0, SIZES.indexOf(size as (typeof SIZES)[number]) + 1).reverse()
  const find = (name: VariantName, f: StoredFormat) => variants.find((v) => v.name === name && v.format === f)
  for (const [index, name] of order.entries()) {
    if (format !== undefined) {
      const exact = find(name, format)
      if (exact) return { variant: exact, negotiated: false }
      continue
    }
    const twin = imageFormat === 'webp' ? undefined : find(name, 'webp')
    const base = find(name, imageFormat)
    const larger = order[index + 1]
    // Without its own-format sibling, a twin stands against what the next larger size would serve.
    const other = base ? { variant: base, negotiated: false } : twin && larger ? chooseVariant(variants, imageFormat, larger, undefined, webpAccepted) : null
    if (!twin) {
      if (other) return other
      continue
    }
    if (!other) return { variant: twin, negotiated: false }
    return { variant: webpAccepted && twin.size < other.variant.size ? twin : other.variant, negotiated: true }
  }
  return null
}

export const extensionOf = (format: StoredFormat) => EXTENSION[format]

/**
 * The name a download is saved under: the uploader's name when there is one, with the
 * extension of what is really sent (a BMP upload is served as PNG), and the size when not the
 * original. The header encoding (RFC 6266) happens in contentDisposition().
 */
export function downloadName(image: { id: string; original_name: string | null }, variant: StoredVariant): string {
  const ext = extensionOf(variant.format)
  // Leading dots would make the download a hidden file (".png" was saved as ".png.png").
  const given = (image.original_name ?? '').split(/[\\/]/).pop()!.trim().replace(/^\.+/, '')
  const dot = given.lastIndexOf('.')
  const stem = (dot > 0 ? given.slice(0, dot) : given) || image.id
  const givenExt = dot > 0 ? given.slice(dot + 1).toLowerCase() : ''
  const suffix = variant.name === 'original' ? '' : `_${variant.name}`
  const keepExt = suffix === '' && FORMAT_OF_EXTENSION[givenExt] === variant.format
  return keepExt ? given : `${stem}${suffix}.${ext}`
}
