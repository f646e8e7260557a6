/**
 * Host names as people write them: the API keeps each label of an internationalised name in its
 * ASCII form ("xn--bcher-kva.example"), and the browser offers no way back (URL's `hostname`
 * gives the ASCII form). This is the decoding half of Punycode (RFC 3492 §6.2), which is all the
 * pages need: a few dozen lines rather than a package, and nothing deprecated (node's `punycode`).
 */

const BASE = 36
const T_MIN = 1
const T_MAX = 26
const SKEW = 38
const DAMP = 700
const INITIAL_BIAS = 72
const INITIAL_N = 128

/** RFC 3492 §6.1. */
function adapt(delta: number, points: number, first: boolean): number {
  let d = first ? Math.floor(delta / DAMP) : delta >> 1
  d += Math.floor(d / points)
  let k = 0
  while (d > ((BASE - T_MIN) * T_MAX) >> 1) {
    d = Math.floor(d / (BASE - T_MIN))
    k += BASE
  }
  return k + Math.floor(((BASE - T_MIN + 1) * d) / (d + SKEW))
}

/** A basic code point's digit value, or BASE for none. */
function digitOf(code: number): number {
  if (code >= 48 && code <= 57) return code - 22
  if (code >= 65 && code <= 90) return code - 65
  if (code >= 97 && code <= 122) return code - 97
  return BASE
}

/** One label's Punycode (without its `xn--`), decoded; null if it is not valid Punycode. */
export function decodePunycode(input: string): string | null {
  const delimiter = input.lastIndexOf('-')
  const output: number[] = []
  for (let j = 0; j < delimiter; j++) {
    const code = input.charCodeAt(j)
    if (code >= 0x80) return null
    output.push(code)
  }
  let n = INITIAL_N
  let bias = INITIAL_BIAS
  let i = 0
  for (let index = delimiter >= 0 ? delimiter + 1 : 0; index < input.length; ) {
    const before = i
    for (let w = 1, k = BASE; ; k += BASE) {
      if (index >= input.length) return null
      const digit = digitOf(input.charCodeAt(index++))
      if (digit >= BASE || digit > Math.floor((Number.MAX_SAFE_INTEGER - i) / w)) return null
      i += digit * w
      const t = k <= bias ? T_MIN : k >= bias + T_MAX ? T_MAX : k - bias
      if (digit < t) break
      w *= BASE - t
    }
    const length = output.length + 1
    bias = adapt(i - before, length, before === 0)
    n += Math.floor(i / length)
    i %= length
    if (n > 0x10ffff) return null
    output.splice(i++, 0, n)
  }
  return String.fromCodePoint(...output)
}

/** "xn--bcher-kva.example" → "bücher.example"; a label that does not decode stays as it was. */
export const hostToUnicode = (host: string) =>
  host
    .split('.')
    .map((label) => (label.toLowerCase().startsWith('xn--') ? (decodePunycode(label.slice(4)) ?? label) : label))
    .join('.')
