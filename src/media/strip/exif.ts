/**
 * The smallest EXIF that still says how to turn the picture: a big-endian TIFF header and one
 * IFD with the Orientation tag (0x0112, SHORT, count 1). 26 bytes; any EXIF that carried an
 * Orientation tag was at least this long, so writing it never makes a file bigger.
 */
export function orientationOnlyTiff(orientation: number): Uint8Array {
  if (!Number.isInteger(orientation) || orientation < 2 || orientation > 8) throw new RangeError(`orientation ${orientation}`)
  // prettier-ignore
  return new Uint8Array([
    0x4d, 0x4d, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x08, // "MM", 42, IFD0 at offset 8
    0x00, 0x01, // one entry
    0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, orientation, 0x00, 0x00, // Orientation = n
    0x00, 0x00, 0x00, 0x00, // no next IFD
  ])
}

/** The EXIF identifier that precedes TIFF data in a JPEG APP1 segment. */
export const EXIF_HEADER = new Uint8Array([0x45, 0x78, 0x69, 0x66, 0x00, 0x00])
