import { invalidImage } from '../refusals'

/** A box type is a four-character code of printable ASCII (ISO/IEC 14496-12, 4.2). */
const isFourCC = (bytes: Uint8Array, at: number) => {
  for (let i = at; i < at + 4; i++) if (bytes[i]! < 0x20 || bytes[i]! > 0x7e) return false
  return true
}

/**
 * The AVIF as uploaded, up to the end of its last top-level ISO-BMFF box: what follows (an
 * appended payload, a ZIP) is not part of the file and is dropped, as after a JPEG's EOI. Only
 * called for a file without Exif or XMP (sharp's metadata tells), so nothing inside the boxes
 * needs cutting; the items are located by file offsets, which a cut at the end leaves valid.
 *
 * The file must start with `ftyp`, and each box must hold at least its header. Bytes that do not
 * read as a box header (fewer than 8 left, a size smaller than the header, a type that is not a
 * four-character code, a size running past the end) end the file there. A box whose data really
 * was cut short loses it, and the decode that follows from these bytes refuses the file.
 */
export function stripAvif(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = 0
  while (at + 8 <= bytes.length) {
    const size32 = view.getUint32(at)
    if (!isFourCC(bytes, at + 4)) break
    // size 1: a 64-bit size follows the type; size 0: the box runs to the end of the file.
    const header = size32 === 1 ? 16 : 8
    if (at + header > bytes.length) break
    const size = size32 === 0 ? bytes.length - at : size32 === 1 ? Number(view.getBigUint64(at + 8)) : size32
    if (size < header || at + size > bytes.length) break
    at += size
  }
  if (at === 0 || view.getUint32(4) !== 0x66747970 /* ftyp */) throw invalidImage()
  return [bytes.subarray(0, at)]
}
