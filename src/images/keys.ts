import type { StoredFormat, VariantName } from '../media/types.ts'

/** File extension per stored format, as used in keys, filenames and URLs. */
export const EXTENSION: Record<StoredFormat, string> = { jpeg: 'jpg', png: 'png', gif: 'gif', webp: 'webp', avif: 'avif' }

/** Every object of one image lives under this prefix, so one list or delete finds them all. */
export const IMAGE_KEY_ROOT = 'images/'
export const imageKeyPrefix = (imageId: string) => `${IMAGE_KEY_ROOT}${imageId}/`
export const variantKey = (imageId: string, name: VariantName, format: StoredFormat) => `${imageKeyPrefix(imageId)}${name}.${EXTENSION[format]}`
export const imageIdFromKey = (key: string) => (key.startsWith(IMAGE_KEY_ROOT) ? key.slice(IMAGE_KEY_ROOT.length).split('/')[0] : undefined)

/** Where an image's original is stored (rows from before variants name it by their single key). */
export const originalKey = (image: { format: StoredFormat; variants: { name: string; format: string; key: string }[]; b2_file_name: string | null }) =>
  image.variants.find((v) => v.name === 'original' && v.format === image.format)?.key ?? image.b2_file_name ?? undefined
