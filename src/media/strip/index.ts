/**
 * Metadata removal at the byte level: the stored original is the uploaded file with its
 * metadata segments/chunks cut out and anything after the image's end dropped. Nothing is
 * decoded or re-encoded, so pixels are identical and the file never grows.
 */
import { Unprocessable } from '../../errors'
import type { StoredFormat } from '../types'
import { stripAvif } from './avif'
import { stripGif } from './gif'
import { stripJpeg } from './jpeg'
import { stripPng } from './png'
import { stripWebp } from './webp'

export type StrippableFormat = StoredFormat

/** AVIF only when it carries no Exif or XMP: those are items inside its `meta` box, which is not edited (see ./avif.ts). */
export const isStrippable = (format: string): format is StrippableFormat => ['jpeg', 'png', 'gif', 'webp', 'avif'].includes(format)

/**
 * The bytes to store for an upload of `format`. `decoded` is what libvips read: its EXIF
 * orientation (1 when none; any other value is kept as a one-tag EXIF so viewers still turn it)
 * and, for a GIF, the canvas it drew (the logical screen a GIF declares is set to it).
 * Refuses (422) a file whose structure is broken, and one that still carries a PHP opening tag
 * once its metadata is gone: such a tag inside compressed image data can only be a planted
 * polyglot, and the byte copy would keep it.
 *
 * The result is written over `bytes` itself whenever it fits (it always does, bar a one-tag EXIF
 * inserted where less was cut before it): the caller hands the upload over and must not read it
 * again. A fresh 3 MB buffer costs about 2 to 5 ms of page faults on this kind of machine, more
 * than the copy, and an upload is otherwise copied into one (scripts/bench-upload.ts).
 */
export function stripMetadata(bytes: Uint8Array, format: StrippableFormat, decoded: { orientation: number; width: number; height: number }): Buffer {
  const { orientation } = decoded
  const parts = stripParts(bytes, format, decoded)
  const out = joinInPlace(bytes, parts)
  if (containsPhpTag(out)) throw new Unprocessable('The image data carries an embedded PHP script and is not stored', 'invalid_image')
  return out
}

function stripParts(bytes: Uint8Array, format: StrippableFormat, decoded: { orientation: number; width: number; height: number }): Uint8Array[] {
  switch (format) {
    case 'jpeg':
      return stripJpeg(bytes, decoded.orientation)
    case 'png':
      return stripPng(bytes, decoded.orientation)
    case 'webp':
      return stripWebp(bytes, decoded.orientation)
    case 'gif':
      return stripGif(bytes, decoded)
    case 'avif':
      return stripAvif(bytes)
  }
}

/**
 * `parts` (views of `bytes` in file order, and small pieces of our own) joined in `bytes`' own
 * memory: each view moves down to where it lands, which never overwrites a byte not yet moved.
 * A piece of our own may only overwrite bytes already cut or moved; when one would not, a new buffer.
 */
export function joinInPlace(bytes: Uint8Array, parts: Uint8Array[]): Buffer {
  const within = (part: Uint8Array, at: number) => part.buffer === bytes.buffer && at >= 0 && at + part.length <= bytes.length
  const from = parts.map((part) => (within(part, part.byteOffset - bytes.byteOffset) ? part.byteOffset - bytes.byteOffset : -1))
  // For each part, where the first view of `bytes` after it starts: what a piece of ours must stay below.
  const nextViewAt = new Array<number>(parts.length)
  for (let i = parts.length - 1, next = bytes.length; i >= 0; i--) {
    nextViewAt[i] = next
    if (from[i]! >= 0) next = from[i]!
  }
  let landing = 0
  for (let i = 0; i < parts.length; i++) {
    const fits = from[i]! >= 0 ? from[i]! >= landing : landing + parts[i]!.length <= nextViewAt[i]!
    if (!fits) return Buffer.concat(parts)
    landing += parts[i]!.length
  }
  landing = 0
  parts.forEach((part, i) => {
    if (from[i]! < 0) bytes.set(part, landing)
    else if (from[i] !== landing) bytes.copyWithin(landing, from[i]!, from[i]! + part.length)
    landing += part.length
  })
  return Buffer.from(bytes.buffer, bytes.byteOffset, landing)
}

/**
 * The openings PHP runs code from, in any letter case: `<?php`, and `<script language="php">`
 * (either quote or none; PHP before 7). `<?=` is not one we refuse: three bytes that turn up by
 * chance in compressed data of a few megabytes, so refusing it would refuse real photos; where
 * free text could carry it (JFIF, iCCP names, GIF sub-blocks), the strip cuts that text instead.
 * Found through the native search for `<?` and `<`.
 */
function containsPhpTag(bytes: Buffer): boolean {
  for (let at = bytes.indexOf('<?'); at >= 0; at = bytes.indexOf('<?', at + 2)) {
    if (bytes.toString('latin1', at + 2, at + 5).toLowerCase() === 'php') return true
  }
  for (let at = bytes.indexOf(0x3c); at >= 0; at = bytes.indexOf(0x3c, at + 1)) {
    if ((bytes[at + 1]! | 0x20) === 0x73 /* s */ && PHP_SCRIPT_TAG.test(bytes.toString('latin1', at, at + SCRIPT_TAG_WINDOW))) return true
  }
  return false
}

/** PHP's own pattern for the tag (its scanner, before PHP 7), anchored where a `<` was found. */
const PHP_SCRIPT_TAG = /^<script\s+language\s*=\s*["']?php["']?\s*>/i
/** Room for the tag with generous whitespace; longer runs of spaces are not worth a decode. */
const SCRIPT_TAG_WINDOW = 96
