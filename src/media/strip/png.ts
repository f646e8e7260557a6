import { invalidImage } from '../refusals'
import { orientationOnlyTiff } from './exif'

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
/** Text, EXIF and modification time: metadata a visitor should not get. */
const DROPPED = new Set(['tEXt', 'zTXt', 'iTXt', 'eXIf', 'tIME'])
/**
 * Ancillary chunks that describe pixels (colour, transparency, gamma, physical size, APNG
 * frames). Any other ancillary chunk is private data a decoder ignores, so it goes too: a
 * payload cannot ride in one. Nor in `sPLT` (a suggested palette for 8-bit displays, named with
 * free text and drawn by nothing the image is shown on), which goes as well.
 */
const KEPT_ANCILLARY = new Set([
  'tRNS', 'gAMA', 'cHRM', 'sRGB', 'iCCP', 'sBIT', 'bKGD', 'hIST', 'pHYs', 'cICP', 'mDCV', 'cLLI',
  'acTL', 'fcTL', 'fdAT', 'oFFs', 'pCAL', 'sCAL', 'sTER', 'gIFg',
])

const isAncillary = (type: string) => (type.charCodeAt(0) & 0x20) !== 0

/**
 * The PNG's chunks without metadata, as slices of `bytes`. Every kept chunk's CRC is checked
 * (a mismatch is a corrupt file, and we would be storing it); the file ends at IEND. An
 * `orientation` other than 1 (read by libvips from eXIf) is kept as a minimal eXIf.
 */
export function stripPng(bytes: Uint8Array, orientation: number): Uint8Array[] {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw invalidImage()
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const parts: Uint8Array[] = [bytes.subarray(0, 8)]
  let exifPending = orientation !== 1
  let at = 8
  for (;;) {
    if (at + 12 > bytes.length) throw invalidImage()
    const length = view.getUint32(at)
    const end = at + 12 + length
    if (length > 0x7fffffff || end > bytes.length) throw invalidImage()
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8))
    if (!/^[A-Za-z]{4}$/.test(type)) throw invalidImage()
    if (type === 'IDAT' && exifPending) {
      // eXIf must come before the image data.
      parts.push(chunk('eXIf', orientationOnlyTiff(orientation)))
      exifPending = false
    }
    const kept = !DROPPED.has(type) && (!isAncillary(type) || KEPT_ANCILLARY.has(type))
    if (kept) {
      if (Bun.hash.crc32(bytes.subarray(at + 4, end - 4)) !== view.getUint32(end - 4)) throw invalidImage()
      parts.push(type === 'iCCP' ? withFixedProfileName(bytes.subarray(at + 8, end - 4)) : bytes.subarray(at, end))
    }
    at = end
    if (type === 'IEND') return parts
  }
}

/**
 * The profile name of an `iCCP` chunk is free Latin-1 text nobody reads (a payload rode in it):
 * it becomes ICC_PROFILE_NAME, cut to the old name's length when that was shorter so the file
 * never grows. The compressed profile after it is kept as it is.
 */
const ICC_PROFILE_NAME = 'ICC'

function withFixedProfileName(data: Uint8Array): Uint8Array {
  const nameEnd = data.indexOf(0)
  // A name is 1 to 79 bytes; without its NUL the chunk is broken.
  if (nameEnd < 1 || nameEnd > 79) throw invalidImage()
  const name = ICC_PROFILE_NAME.slice(0, nameEnd)
  const fixed = new Uint8Array(name.length + data.length - nameEnd)
  for (let i = 0; i < name.length; i++) fixed[i] = name.charCodeAt(i)
  fixed.set(data.subarray(nameEnd), name.length)
  return chunk('iCCP', fixed)
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, data.length)
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i)
  out.set(data, 8)
  view.setUint32(8 + data.length, Bun.hash.crc32(out.subarray(4, 8 + data.length)))
  return out
}
