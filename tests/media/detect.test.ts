import { describe, expect, test } from 'bun:test'
import { framelessGifSize, looksLikeDamagedPng, sniffFormat } from '#core/media/detect.ts'

const bytes = (...parts: (string | number[])[]) =>
  new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)))
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]
const ftyp = (major: string, ...compatible: string[]) => bytes(u32(16 + 4 * compatible.length), 'ftyp', major, [0, 0, 0, 0], ...compatible)

describe('sniffFormat', () => {
  test.each([
    ['jpeg', bytes([0xff, 0xd8, 0xff, 0xe0])],
    ['png', bytes([0x89], 'PNG', [0x0d, 0x0a, 0x1a, 0x0a])],
    ['gif', bytes('GIF87a')],
    ['gif', bytes('GIF89a')],
    ['webp', bytes('RIFF', [1, 2, 3, 4], 'WEBPVP8 ')],
    ['bmp', bytes('BM', new Array(30).fill(0))],
    ['avif', ftyp('avif', 'mif1', 'miaf')],
    ['avif', ftyp('mif1', 'miaf', 'avif')],
    ['avif', ftyp('avis', 'msf1')],
  ] as const)('recognises %s', (format, head) => {
    expect(sniffFormat(head)).toBe(format)
  })

  test.each([
    ['HEIC', ftyp('heic', 'mif1', 'heic')],
    ['TIFF (little-endian)', bytes('II', [42, 0, 8, 0, 0, 0])],
    ['TIFF (big-endian)', bytes('MM', [0, 42, 0, 0, 0, 8])],
    ['ICO', bytes([0, 0, 1, 0, 1, 0])],
    ['JPEG XL codestream', bytes([0xff, 0x0a, 0x7f])],
    ['PDF', bytes('%PDF-1.7')],
    ['SVG', bytes('<svg xmlns="http://www.w3.org/2000/svg"/>')],
    ['RIFF that is not WebP', bytes('RIFF', [0, 0, 0, 0], 'WAVEfmt ')],
    ['a JPEG marker without the third byte', bytes([0xff, 0xd8])],
    ['a truncated BMP header', bytes('BM', [0, 0])],
    ['empty', bytes()],
  ] as const)('refuses %s', (_, head) => {
    expect(sniffFormat(head)).toBeNull()
  })

  test('a PNG with a damaged signature is told apart from other formats', () => {
    const damaged = bytes([0x89], 'PNG', [0x0d, 0x0d, 0x1a, 0x0d], u32(13), 'IHDR')
    expect(sniffFormat(damaged)).toBeNull()
    expect(looksLikeDamagedPng(damaged)).toBe(true)
    expect(looksLikeDamagedPng(bytes('%PDF-1.7\n1 0 obj<<>>endobj'))).toBe(false)
    expect(looksLikeDamagedPng(bytes([0x89], 'PNG', [0x0d, 0x0a, 0x1a, 0x0a], u32(13), 'IHDR'))).toBe(false)
  })
})

describe('framelessGifSize', () => {
  test('a GIF with no image block describes an empty canvas', () => {
    const gif = bytes('GIF89a', [3, 0, 2, 0, 0, 0, 0, 0x3b])
    expect(framelessGifSize(gif, gif.length)).toEqual({ width: 3, height: 2 })
  })

  test('the global colour table is skipped when present', () => {
    const gif = bytes('GIF89a', [1, 0, 1, 0, 0x80, 0, 0], [0, 0, 0, 255, 255, 255], [0x3b])
    expect(framelessGifSize(gif, gif.length)).toEqual({ width: 1, height: 1 })
  })

  test('anything after the header other than the trailer is not frameless', () => {
    const php = bytes('GIF89a1\r<?php phpinfo(); ?>\n')
    expect(framelessGifSize(php, php.length)).toBeNull()
    const withImage = bytes('GIF89a', [1, 0, 1, 0, 0, 0, 0, 0x2c])
    expect(framelessGifSize(withImage, withImage.length + 20)).toBeNull()
  })
})
