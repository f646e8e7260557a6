import { invalidImage } from '../refusals'
import { orientationOnlyTiff } from './exif'

/** Chunks that make up the picture (RIFF container spec, "Extended File Format"). */
const KEPT = new Set(['VP8X', 'VP8 ', 'VP8L', 'ALPH', 'ICCP', 'ANIM', 'ANMF'])
const EXIF_FLAG = 0x08
const XMP_FLAG = 0x04

const fourcc = (bytes: Uint8Array, at: number) => String.fromCharCode(...bytes.subarray(at, at + 4))

/**
 * The WebP without its EXIF and XMP chunks (and any unknown chunk), with the VP8X flags and the
 * RIFF size made to match. Bytes past the RIFF size are not part of the file and are dropped.
 * An `orientation` other than 1 is kept as a minimal EXIF chunk.
 */
export function stripWebp(bytes: Uint8Array, orientation: number): Uint8Array[] {
  if (bytes.length < 20 || fourcc(bytes, 0) !== 'RIFF' || fourcc(bytes, 8) !== 'WEBP') throw invalidImage()
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const riffEnd = 8 + view.getUint32(4, true)
  if (riffEnd > bytes.length) throw invalidImage()
  const parts: Uint8Array[] = []
  let flags: Uint8Array | undefined
  let exifKept = false
  for (let at = 12; at < riffEnd; ) {
    if (at + 8 > riffEnd) throw invalidImage()
    const type = fourcc(bytes, at)
    const size = view.getUint32(at + 4, true)
    // Chunks are padded to an even length; a writer may leave out the last chunk's pad byte.
    const end = Math.min(at + 8 + size + (size & 1), riffEnd)
    if (at + 8 + size > riffEnd) throw invalidImage()
    if (type === 'VP8X') {
      flags = bytes.slice(at, end)
      parts.push(flags)
    } else if (type === 'EXIF' && orientation !== 1 && !exifKept) {
      parts.push(exifChunk(orientation))
      exifKept = true
    } else if (KEPT.has(type)) {
      parts.push(bytes.subarray(at, end))
    }
    at = end
  }
  if (flags) flags[8] = flags[8]! & ~XMP_FLAG & ~(exifKept ? 0 : EXIF_FLAG)
  const size = parts.reduce((sum, part) => sum + part.length, 4)
  const header = new Uint8Array(12)
  header.set(bytes.subarray(0, 12))
  new DataView(header.buffer).setUint32(4, size, true)
  return [header, ...parts]
}

function exifChunk(orientation: number): Uint8Array {
  const tiff = orientationOnlyTiff(orientation)
  const out = new Uint8Array(8 + tiff.length)
  out.set([0x45, 0x58, 0x49, 0x46]) // "EXIF"
  new DataView(out.buffer).setUint32(4, tiff.length, true)
  out.set(tiff, 8)
  return out
}
