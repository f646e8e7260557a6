/**
 * Metadata removal at the byte level: the stored original is the uploaded file with its
 * metadata segments/chunks cut out and anything after the image's end dropped. Nothing is
 * decoded or re-encoded, so pixels are identical and the file never grows.
 */
import { Unprocessable } from '../../errors'
import type { StoredFormat } from '../types'
import { stripGif } from './gif'
import { stripJpeg } from './jpeg'
import { stripPng } from './png'
import { stripWebp } from './webp'

export type StrippableFormat = Extract<StoredFormat, 'jpeg' | 'png' | 'gif' | 'webp'>

export const isStrippable = (format: string): format is StrippableFormat => ['jpeg', 'png', 'gif', 'webp'].includes(format)

/**
 * The bytes to store for an upload of `format`. `orientation` is the EXIF orientation libvips
 * read (1 when none); any other value is kept as a one-tag EXIF so viewers still turn it.
 * Refuses (422) a file whose structure is broken, and one that still carries a PHP opening tag
 * once its metadata is gone: such a tag inside compressed image data can only be a planted
 * polyglot, and the byte copy would keep it.
 */
export function stripMetadata(bytes: Uint8Array, format: StrippableFormat, orientation: number): Buffer {
  const parts = format === 'jpeg' ? stripJpeg(bytes, orientation) : format === 'png' ? stripPng(bytes, orientation) : format === 'webp' ? stripWebp(bytes, orientation) : stripGif(bytes)
  const out = Buffer.concat(parts)
  if (containsPhpTag(out)) throw new Unprocessable('The image data carries an embedded PHP script and is not stored', 'invalid_image')
  return out
}

/** `<?php` in any letter case, found through the native search for `<?`. */
function containsPhpTag(bytes: Buffer): boolean {
  for (let at = bytes.indexOf('<?'); at >= 0; at = bytes.indexOf('<?', at + 2)) {
    if (bytes.toString('latin1', at + 2, at + 5).toLowerCase() === 'php') return true
  }
  return false
}
