import { invalidImage } from '../refusals'

const TRAILER = 0x3b
const IMAGE = 0x2c
const EXTENSION = 0x21
const COMMENT = 0xfe
const APPLICATION = 0xff

const isLooping = (bytes: Uint8Array, at: number) =>
  bytes[at] === 11 && String.fromCharCode(...bytes.subarray(at + 1, at + 12)) === 'NETSCAPE2.0'

/**
 * The GIF without comment and application extensions, except NETSCAPE2.0 cut to its loop count.
 * Graphic control and plain-text extensions and the images stay as they are; nothing after
 * the trailer survives. A block cut short is a truncated file and is refused.
 *
 * The logical screen becomes `canvas`, the size libvips drew. They differ when libvips (libnsgif)
 * takes a declared screen for a mistake (over 2048 a side, or a common monitor size such as
 * 640×480) and draws the frames' own extent: kept, a 65535×65535 screen around a 1×1 frame made
 * every browser refuse the file, and the size the API reports would not be the one shown.
 */
export function stripGif(bytes: Uint8Array, canvas: { width: number; height: number }): Uint8Array[] {
  if (bytes.length < 13) throw invalidImage()
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  view.setUint16(6, canvas.width, true)
  view.setUint16(8, canvas.height, true)
  const tableBytes = (flags: number) => (flags & 0x80 ? 3 * 2 ** ((flags & 0x07) + 1) : 0)
  let at = 13 + tableBytes(bytes[10]!)
  if (at > bytes.length) throw invalidImage()
  const parts: Uint8Array[] = [bytes.subarray(0, at)]
  for (;;) {
    // A file that simply stops after a whole block has lost only its trailer; decoders accept it.
    if (at === bytes.length) return parts
    const start = at
    switch (bytes[at]) {
      case TRAILER:
        parts.push(bytes.subarray(at, at + 1))
        return parts
      case IMAGE: {
        if (at + 11 > bytes.length) throw invalidImage()
        at = skipSubBlocks(bytes, at + 10 + tableBytes(bytes[at + 9]!) + 1)
        parts.push(bytes.subarray(start, at))
        break
      }
      case EXTENSION: {
        const label = bytes[at + 1]
        at = skipSubBlocks(bytes, at + 2)
        if (label === APPLICATION && isLooping(bytes, start + 2)) {
          const loop = loopOnly(bytes, start, at)
          if (loop) parts.push(loop)
        } else if (label !== COMMENT && label !== APPLICATION) parts.push(bytes.subarray(start, at))
        break
      }
      default:
        throw invalidImage()
    }
  }
}

/** The NETSCAPE2.0 extension holding its loop sub-block and nothing else: 19 bytes. */
const LOOP_EXTENSION_LENGTH = 3 + 11 + 4 + 1

/**
 * The NETSCAPE2.0 extension spanning `start` to `end` with only its loop sub-block (size 3, id
 * 1, the count), as browsers read it: any other sub-block (a buffering hint nobody reads, or a
 * payload) goes. Null when it has no loop sub-block, and the extension goes whole.
 */
function loopOnly(bytes: Uint8Array, start: number, end: number): Uint8Array | null {
  for (let at = start + 14; at < end && bytes[at] !== 0; at += 1 + bytes[at]!) {
    if (bytes[at] !== 3 || bytes[at + 1] !== 1) continue
    if (at === start + 14 && end - start === LOOP_EXTENSION_LENGTH) return bytes.subarray(start, end)
    const extension = new Uint8Array(LOOP_EXTENSION_LENGTH)
    extension.set(bytes.subarray(start, start + 14))
    extension.set(bytes.subarray(at, at + 4), 14)
    return extension
  }
  return null
}

/** Past a chain of data sub-blocks and its zero-length terminator. */
function skipSubBlocks(bytes: Uint8Array, from: number): number {
  let at = from
  for (;;) {
    if (at >= bytes.length) throw invalidImage()
    const size = bytes[at]!
    at += 1 + size
    if (size === 0) return at
  }
}
