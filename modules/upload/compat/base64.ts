import { Transform, type TransformCallback } from 'node:stream'
import { BadRequest } from '#core/errors.ts'

export const invalidBase64 = () => new BadRequest('The image is neither an image file nor valid base64', 'invalid_base64')
export const remoteUrlRefused = () =>
  new BadRequest('remote URLs are not fetched: send the image itself (a file or base64)', 'remote_url_refused')

/** Longest `data:<mime>;base64,` prefix looked for before the payload. */
const MAX_DATA_URI_PREFIX = 256
/** What the first characters may still turn out to be, so they are held until they can be told apart. */
const PREFIXES = ['http:', 'https:', 'data:']
const BASE64_CHARS = /^[A-Za-z0-9+/_-]*$/
const WHITESPACE = /[\s]/g

/**
 * Decodes base64 as it streams past, so a base64 upload never sits whole in memory.
 * Takes both alphabets (RFC 4648 §4 and §5), optional padding, line breaks (MIME), and a
 * `data:image/...;base64,` prefix. Anything else, including text after padding, is invalid_base64;
 * an http(s) URL in place of the image is refused by name, never fetched.
 */
export class Base64Decoder extends Transform {
  #head: string | undefined = ''
  #carry = ''
  #padded = false

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
    try {
      let text = chunk.toString('latin1')
      if (this.#head !== undefined) {
        text = this.#skipPrefix(this.#head + text, false)
        if (this.#head !== undefined) return done()
      }
      done(null, this.#decode(text))
    } catch (error) {
      done(error as Error)
    }
  }

  override _flush(done: TransformCallback) {
    try {
      const rest = this.#head !== undefined ? this.#skipPrefix(this.#head, true) : ''
      const last = this.#decode(rest)
      // One leftover character cannot encode a byte: the input was cut or is not base64.
      if (this.#carry.length === 1) throw invalidBase64()
      done(null, Buffer.concat([last, Buffer.from(this.#carry, 'base64')]))
    } catch (error) {
      done(error as Error)
    }
  }

  /** Holds the first characters until a URL, a data URI or plain base64 can be told apart. */
  #skipPrefix(text: string, final: boolean): string {
    const start = text.trimStart()
    if (/^https?:/i.test(start)) throw remoteUrlRefused()
    const lower = start.slice(0, 6).toLowerCase()
    if (!final && (start.length === 0 || PREFIXES.some((prefix) => lower.length < prefix.length && prefix.startsWith(lower)))) {
      this.#head = text
      return ''
    }
    if (!/^data:/i.test(start)) {
      this.#head = undefined
      return start
    }
    const comma = start.indexOf(',')
    if (comma === -1) {
      if (start.length > MAX_DATA_URI_PREFIX || final) throw invalidBase64()
      this.#head = text
      return ''
    }
    if (!/;base64$/i.test(start.slice(0, comma))) throw invalidBase64()
    this.#head = undefined
    return start.slice(comma + 1)
  }

  #decode(text: string): Buffer {
    let chars = text.replace(WHITESPACE, '')
    if (chars.length === 0) return Buffer.alloc(0)
    if (this.#padded) {
      if (!/^=*$/.test(chars)) throw invalidBase64()
      return Buffer.alloc(0)
    }
    const pad = chars.indexOf('=')
    if (pad !== -1) {
      if (!/^=*$/.test(chars.slice(pad))) throw invalidBase64()
      this.#padded = true
      chars = chars.slice(0, pad)
    }
    if (!BASE64_CHARS.test(chars)) throw invalidBase64()
    const all = this.#carry + chars
    const whole = all.length - (all.length % 4)
    this.#carry = all.slice(whole)
    return Buffer.from(all.slice(0, whole), 'base64')
  }
}

/** Decodes a base64 string held whole (a query parameter), with the same rules as the stream. */
export async function decodeBase64Text(text: string): Promise<Buffer> {
  const decoder = new Base64Decoder()
  const parts: Buffer[] = []
  decoder.on('data', (part: Buffer) => parts.push(part))
  await new Promise<void>((resolve, reject) => {
    decoder.once('error', reject)
    decoder.once('end', resolve)
    decoder.end(Buffer.from(text, 'latin1'))
  })
  return Buffer.concat(parts)
}

/** Base64 of `bytes` bytes with MIME line breaks (76 characters + CRLF): about 1.37 times. */
export const base64Size = (bytes: number) => {
  const chars = Math.ceil(bytes / 3) * 4
  return chars + Math.ceil(chars / 76) * 2
}
