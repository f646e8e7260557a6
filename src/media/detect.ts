import type { AcceptedFormat } from './types'

/** How many leading bytes `sniffFormat` and `isFramelessGif` need to decide. */
export const SNIFF_BYTES = 1024

const startsWith = (head: Uint8Array, bytes: readonly number[], at = 0) =>
  head.length >= at + bytes.length && bytes.every((b, i) => head[at + i] === b)

const ascii = (head: Uint8Array, from: number, to: number) =>
  String.fromCharCode(...head.subarray(from, Math.min(to, head.length)))

/**
 * The format a file really is, from its magic bytes; null for anything we do not accept
 * (TIFF, ICO, JPEG XL, SVG, PDF, HEIC, text, ...). Extensions and declared types are never
 * consulted: they are whatever the client says they are.
 */
export function sniffFormat(head: Uint8Array): AcceptedFormat | null {
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'jpeg'
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png'
  const six = ascii(head, 0, 6)
  if (six === 'GIF87a' || six === 'GIF89a') return 'gif'
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'webp'
  if (ascii(head, 0, 2) === 'BM' && head.length >= 26) return 'bmp'
  if (isAvif(head)) return 'avif'
  return null
}

/**
 * A PNG whose 8-byte signature was damaged (a flipped bit, CR/LF mangled by a text-mode transfer)
 * still has its IHDR chunk right behind it. Such a file is a corrupt PNG, not another format, and
 * is answered as one (422), not with the list of formats (415).
 */
export function looksLikeDamagedPng(head: Uint8Array): boolean {
  return sniffFormat(head) === null && ascii(head, 0, 24).includes('IHDR')
}

/**
 * AVIF is an ISO-BMFF file whose `ftyp` box names `avif` (still) or `avis` (sequence) as its
 * major or a compatible brand. HEIC shares the container but not the brand, and stays refused.
 */
function isAvif(head: Uint8Array): boolean {
  if (head.length < 16 || ascii(head, 4, 8) !== 'ftyp') return false
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  const boxEnd = Math.min(view.getUint32(0), head.length)
  const brands = [ascii(head, 8, 12)]
  for (let at = 16; at + 4 <= boxEnd; at += 4) brands.push(ascii(head, at, at + 4))
  return brands.includes('avif') || brands.includes('avis')
}

/**
 * A GIF may legally hold no image at all: header, screen descriptor, optional colour table,
 * trailer. Browsers draw an empty canvas; libvips refuses it ("no frames"). We accept exactly
 * that structure and nothing looser, so junk after a GIF header is still refused as corrupt.
 */
export function framelessGifSize(head: Uint8Array, fileSize: number): { width: number; height: number } | null {
  if (sniffFormat(head) !== 'gif' || head.length < 13) return null
  const flags = head[10]!
  const tableBytes = flags & 0x80 ? 3 * 2 ** ((flags & 0x07) + 1) : 0
  const trailerAt = 13 + tableBytes
  if (fileSize !== trailerAt + 1 || head[trailerAt] !== 0x3b) return null
  const width = head[6]! | (head[7]! << 8)
  const height = head[8]! | (head[9]! << 8)
  return width > 0 && height > 0 ? { width, height } : null
}
