import { invalidImage } from '../refusals'
import { EXIF_HEADER, orientationOnlyTiff } from './exif'

const SOI = 0xd8
const EOI = 0xd9
const SOS = 0xda
const APP0 = 0xe0
const APP2 = 0xe2
const APP14 = 0xee
const APP15 = 0xef
const COM = 0xfe

const startsWithText = (bytes: Uint8Array, at: number, text: string) => {
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false
  return true
}

/**
 * Which marker segments a stored original keeps. APPn segments are metadata, never pixels,
 * except three that change how pixels are read: JFIF (APP0, the YCbCr promise), the ICC
 * profile (APP2 "ICC_PROFILE") and Adobe's APP14 (CMYK/YCCK transform). EXIF and XMP (APP1),
 * IPTC (APP13), comments and every other APPn go. Everything else (tables, frame and scan
 * headers, restart interval) is image data and stays.
 */
function keeps(marker: number, bytes: Uint8Array, at: number): boolean {
  const body = at + 4
  if (marker === APP0) return startsWithText(bytes, body, 'JFIF\0')
  if (marker === APP2) return startsWithText(bytes, body, 'ICC_PROFILE\0')
  if (marker === APP14) return startsWithText(bytes, body, 'Adobe')
  if (marker >= APP0 && marker <= APP15) return false
  return marker !== COM
}

/**
 * The JPEG's segments without metadata, as slices of `bytes` (nothing is decoded). With an
 * `orientation` other than 1 a minimal EXIF APP1 holding only that tag goes right after
 * SOI/JFIF, where viewers look for it. Fill bytes and anything after EOI are dropped. A file
 * that ends before EOI is refused: it is truncated.
 */
export function stripJpeg(bytes: Uint8Array, orientation: number): Uint8Array[] {
  if (bytes[0] !== 0xff || bytes[1] !== SOI) throw invalidImage()
  const parts: Uint8Array[] = [bytes.subarray(0, 2)]
  let exifPending = orientation !== 1
  let at = 2
  for (;;) {
    if (bytes[at] !== 0xff) throw invalidImage()
    // Any number of 0xFF fill bytes may precede a marker (ITU T.81 B.1.1.2).
    while (bytes[at + 1] === 0xff) at++
    if (at + 1 >= bytes.length) throw invalidImage()
    const marker = bytes[at + 1]!
    if (exifPending && marker !== APP0) {
      parts.push(exifSegment(orientation))
      exifPending = false
    }
    if (marker === EOI) {
      parts.push(bytes.subarray(at, at + 2))
      return parts
    }
    // Standalone markers (TEM, RSTn) have no length.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      parts.push(bytes.subarray(at, at + 2))
      at += 2
      continue
    }
    if (at + 4 > bytes.length) throw invalidImage()
    const end = at + 2 + ((bytes[at + 2]! << 8) | bytes[at + 3]!)
    if (end > bytes.length || end < at + 4) throw invalidImage()
    if (marker === APP0 && keeps(marker, bytes, at)) parts.push(bareJfif(bytes, at, end))
    else if (keeps(marker, bytes, at)) parts.push(bytes.subarray(at, end))
    at = end
    if (marker === SOS) {
      const scanEnd = endOfScan(bytes, at)
      parts.push(bytes.subarray(at, scanEnd))
      at = scanEnd
    }
  }
}

/** The JFIF APP0 fields a decoder reads (version, density units, X and Y density), after "JFIF\0". */
const JFIF_FIELDS = 5 + 7
/** Its whole segment with a 0×0 thumbnail: marker, length 16, "JFIF\0", the fields, two zeros. */
const BARE_JFIF_LENGTH = 2 + 16

/**
 * The JFIF APP0 segment in its 16-byte form: a thumbnail of 0×0 and nothing after the fields.
 * Its thumbnail pixels, and whatever a writer put after them, are no part of the image and
 * would otherwise ride along byte for byte (a payload, or a preview of what was cropped away).
 * One already bare is kept as it is; one too short to hold the fields is kept too (nothing to hide in).
 */
function bareJfif(bytes: Uint8Array, at: number, end: number): Uint8Array {
  const thumbnailAt = at + 4 + JFIF_FIELDS
  if (end - at < BARE_JFIF_LENGTH || (end - at === BARE_JFIF_LENGTH && bytes[thumbnailAt] === 0 && bytes[thumbnailAt + 1] === 0)) return bytes.subarray(at, end)
  const segment = new Uint8Array(BARE_JFIF_LENGTH)
  segment.set(bytes.subarray(at, thumbnailAt))
  segment[2] = 0
  segment[3] = BARE_JFIF_LENGTH - 2
  return segment
}

/** Entropy-coded data runs to the first 0xFF that is neither stuffed (FF00) nor a restart marker. */
function endOfScan(bytes: Uint8Array, from: number): number {
  let at = from
  for (;;) {
    at = bytes.indexOf(0xff, at)
    if (at < 0 || at + 1 >= bytes.length) throw invalidImage()
    const next = bytes[at + 1]!
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) at += 2
    else return at
  }
}

function exifSegment(orientation: number): Uint8Array {
  const tiff = orientationOnlyTiff(orientation)
  const length = 2 + EXIF_HEADER.length + tiff.length
  const segment = new Uint8Array(2 + length)
  segment.set([0xff, 0xe1, length >> 8, length & 0xff])
  segment.set(EXIF_HEADER, 4)
  segment.set(tiff, 4 + EXIF_HEADER.length)
  return segment
}
