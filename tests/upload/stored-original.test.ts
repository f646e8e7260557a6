import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { describeEachBackend } from '../helpers/index.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { signUp, storedVariants } from './support.ts'

const dir = mkdtempSync(join(tmpdir(), 'imghost-stored-original-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const fixture = (name: string, bytes: Uint8Array) => {
  const path = join(dir, name)
  writeFileSync(path, bytes)
  return path
}

// Made once: an effort-9 encode takes seconds. Re-encoded at the usual quality, it came out 4 times its size.
const tightAvif = await sharp(join(CORPUS, 'gps/DSCN0010.jpg')).resize(320).avif({ quality: 1, effort: 9 }).toBuffer()

describeEachBackend('the stored original, through POST /upload', (app) => {
  test('an AVIF without Exif or XMP is stored as sent, and charged as such; a trailer is cut', async () => {
    const user = await signUp(app())
    const bytes = tightAvif
    const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, fixture('q1.avif', Buffer.concat([bytes, Buffer.from('<?php ?>TRAILER')])))
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect(body.image.metadata).toMatchObject({ format: 'avif', size: bytes.length })
    const original = (await storedVariants(app(), body.image.id)).find((v) => v.name === 'original')!
    expect(Buffer.from(original.bytes).equals(bytes)).toBe(true)
  })

  test('a JFIF APP0 is stored in its 16 bytes, and a PHP script tag in a kept segment is refused', async () => {
    const user = await signUp(app())
    const plain = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#3a7' } }).jpeg().toBuffer()
    const withSegment = (marker: number, head: string, payload: string) => {
      const body = Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(payload)])
      return Buffer.concat([plain.subarray(0, 2), Buffer.from([0xff, marker, 0, body.length + 2]), body, plain.subarray(2)])
    }
    const jfif = 'JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00'
    const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, fixture('short.jpg', withSegment(0xe0, jfif, '<?=`$_GET[c]`?>')))
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect(body.image.metadata.size).toBe(plain.length + 18)
    const original = (await storedVariants(app(), body.image.id)).find((v) => v.name === 'original')!
    expect(Buffer.from(original.bytes).includes('<?=')).toBe(false)
    const [refused, refusal] = await uploadFile(app().upload, { apiKey: user.apiKey }, fixture('script.jpg', withSegment(0xe2, 'ICC_PROFILE\0\x01\x01', '<script language="php">system($_GET[c]);</script>')))
    expect([refused.status, refusal.error?.code], JSON.stringify(refusal)).toEqual([422, 'invalid_image'])
  })
})
