import { describe, expect, test } from 'bun:test'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { Base64Decoder, base64Size, decodeBase64Text } from '#modules/upload/compat/base64.ts'
import { FormFieldSplitter } from '#modules/upload/compat/body.ts'

const sample = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37 + 11) % 256))

/** Runs `text` through the stages in chunks of `size` bytes; returns what came out. */
async function run(text: string, size: number, stages: () => NodeJS.ReadWriteStream[]) {
  const bytes = Buffer.from(text, 'latin1')
  const chunks = Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size))
  const out: Buffer[] = []
  const sink = new Writable({ write: (chunk, _e, done) => (out.push(chunk), done()) })
  await pipeline(Readable.from(chunks), ...stages(), sink)
  return Buffer.concat(out)
}

describe('base64 streaming decoder', () => {
  const inputs = {
    plain: sample.toString('base64'),
    'url-safe, no padding': sample.toString('base64url'),
    'MIME line breaks': sample.toString('base64').replace(/.{76}/g, '$&\r\n'),
    'data: URI': `data:image/png;base64,${sample.toString('base64')}`,
  }
  for (const [name, text] of Object.entries(inputs)) {
    test(`${name}: the same bytes whatever the chunking`, async () => {
      for (const size of [1, 2, 3, 5, 7, 64, 4096]) {
        expect(Buffer.compare(await run(text, size, () => [new Base64Decoder()]), sample), `chunks of ${size}`).toBe(0)
      }
    })
  }

  test('refusals: bad characters, text after padding, a lone last character, a URL, a data: URI that is not base64', async () => {
    const refusal = (text: string, size = 3) => run(text, size, () => [new Base64Decoder()]).then(() => 'accepted', (error) => error.code)
    expect(await refusal('QUJD!!!!')).toBe('invalid_base64')
    expect(await refusal('QUI=QUJD')).toBe('invalid_base64')
    expect(await refusal('QUJDR')).toBe('invalid_base64')
    expect(await refusal('https://example.com/a.png', 1)).toBe('remote_url_refused')
    expect(await refusal('data:image/png,rawbytes')).toBe('invalid_base64')
    expect(await refusal('data:image/png;base64')).toBe('invalid_base64')
    expect(await decodeBase64Text('QUJD')).toEqual(Buffer.from('ABC'))
  })

  test('base64Size allows for MIME line breaks: about 1.37 times', () => {
    expect(base64Size(20 * 1024 * 1024) / (20 * 1024 * 1024)).toBeCloseTo(1.368, 2)
    expect(base64Size(3)).toBe(4 + 2)
  })
})

describe('urlencoded form splitter', () => {
  test('the file field streams out %-decoded (a "+" stays a "+") whatever the chunking; other fields are kept', async () => {
    const encoded = sample.toString('base64')
    const body = `key=ih_abc%2Bdef&title=Hello+World%21&source=${encoded.replace(/\//g, '%2F')}&format=json`
    for (const size of [1, 2, 3, 4, 13, 4096]) {
      const splitter = new FormFieldSplitter('source')
      const out = await run(body, size, () => [splitter, new Base64Decoder()])
      expect(Buffer.compare(out, sample), `chunks of ${size}`).toBe(0)
      expect(splitter.sawFile).toBe(true)
      expect(splitter.fields()).toEqual({ key: 'ih_abc+def', title: 'Hello World!', format: 'json' })
    }
  })

  test('the file field given twice is refused (conflicting_field), however the second name is chunked or escaped', async () => {
    const encoded = sample.toString('base64')
    for (const second of ['source=AAAA', 'sou%72ce=AAAA']) {
      for (const size of [1, 3, 4096]) {
        const run2 = run(`source=${encoded}&title=x&${second}`, size, () => [new FormFieldSplitter('source'), new Base64Decoder()])
        await expect(run2, `${second} in chunks of ${size}`).rejects.toMatchObject({ code: 'conflicting_field', status: 400 })
      }
    }
  })

  test('no file field: nothing streams out, the fields are read', async () => {
    const splitter = new FormFieldSplitter('image')
    const out = await run('title=a&name=b.png', 2, () => [splitter])
    expect(out.length).toBe(0)
    expect(splitter.sawFile).toBe(false)
    expect(splitter.fields()).toEqual({ title: 'a', name: 'b.png' })
  })
})
