import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { isImageId } from '#core/images/ids.ts'
import { call, changeOutsideApiPropagated, describeEachBackend } from '../helpers/index.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { footprint, signUp, storedVariants } from './support.ts'
import { freshPng } from '../helpers/ending-images.ts'

let generated: string
const file = (name: string) => join(generated, name)

beforeAll(async () => {
  generated = mkdtempSync(join(tmpdir(), 'imghost-upload-formats-'))
  const solid = (width: number, height: number) => sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 10 } } })
  await solid(640, 480).avif().toFile(file('photo.avif'))
  await solid(320, 200).webp({ lossless: true }).toFile(file('photo.webp'))
  await solid(1500, 1000).jpeg().toFile(file('large.jpg'))
  await solid(1200, 900).webp().toFile(file('large.webp'))
  const frames = await Promise.all([0, 120, 250].map((r) => sharp({ create: { width: 40, height: 30, channels: 3, background: { r, g: 0, b: 255 - r } } }).png().toBuffer()))
  await sharp(frames, { join: { animated: true } }).gif({ delay: [100, 100, 100], loop: 0 }).toFile(file('animated.gif'))
})
afterAll(() => rmSync(generated, { recursive: true, force: true }))

describeEachBackend('POST /upload', (app) => {
  test('answers 201 with exactly the documented shape and stores every variant', async () => {
    const user = await signUp(app())
    const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, file('large.jpg'))
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect(Object.keys(body).sort()).toEqual(['image', 'success'])
    // The documented keys, plus the delete link ShareX-style clients need.
    expect(Object.keys(body.image).sort()).toEqual(['deletion_url', 'filename', 'id', 'metadata', 'thumbnail', 'url', 'view_url'])
    expect(body.image.deletion_url).toStartWith(`${app().config.publicUrls.upload}/images/${body.image.id}/delete?token=`)
    const { id } = body.image
    expect(isImageId(id)).toBe(true)
    expect(body.image.filename).toBe(`${id}.jpg`)
    const view = app().config.publicUrls.view
    expect(body.image.url).toBe(`${view}/${id}.jpg`)
    expect(body.image.thumbnail).toBe(`${view}/${id}_thumb.jpg`)
    expect(body.image.view_url).toBe(`${view}/i/${id}`)
    expect(body.image.metadata).toMatchObject({ width: 1500, height: 1000, format: 'jpeg' })

    const variants = await storedVariants(app(), id)
    const names = variants.map((v) => `${v.name}.${v.format}`).sort()
    expect(names).toEqual(['medium.jpeg', 'medium.webp', 'original.jpeg', 'thumb.jpeg', 'thumb.webp'])
    for (const variant of variants) {
      const meta = await sharp(variant.bytes).metadata()
      expect(meta.format as string).toBe(variant.format)
      expect([meta.width, meta.height]).toEqual([variant.width, variant.height])
      expect(variant.bytes.byteLength).toBe(variant.size)
    }
    const byName = Object.fromEntries(variants.filter((v) => v.format === 'jpeg').map((v) => [v.name, v]))
    expect([byName.thumb!.width, byName.thumb!.height]).toEqual([256, 171])
    expect([byName.medium!.width, byName.medium!.height]).toEqual([1024, 683])
    expect(body.image.metadata.size).toBe(byName.original!.size)

    const after = await footprint(app(), user.id)
    expect(after.images).toBe(1)
    expect(after.uploads).toBe(1)
    expect(after.storage_used).toBe(variants.reduce((sum, v) => sum + v.size, 0))
    expect(after.tempFiles).toEqual([])
  })

  test('every URL in the response serves the image from the view server', async () => {
    const user = await signUp(app())
    const [, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, file('large.jpg'))
    const expected: Record<string, [number, number]> = { url: [1500, 1000], thumbnail: [256, 171], view_url: [1500, 1000] }
    for (const [field, size] of Object.entries(expected)) {
      const url = new URL(body.image[field])
      const response = await app().view.handle(new Request(`http://localhost${url.pathname}`, { headers: { accept: 'image/jpeg' } }))
      expect(response.status, `${field} ${url}`).toBe(200)
      expect(response.headers.get('content-type'), field).toStartWith('image/')
      const meta = await sharp(Buffer.from(await response.arrayBuffer())).metadata()
      expect([meta.width, meta.height], field).toEqual(size)
    }
  })

  test('accepts every supported format, checked from the bytes', async () => {
    const user = await signUp(app())
    const cases: [string, string, [number, number]][] = [
      [join(CORPUS, 'small/jpeg.jpg'), 'jpeg', [1, 1]],
      [join(CORPUS, 'small/png-transparent.png'), 'png', [1, 1]],
      [join(CORPUS, 'small/gif-transparent.gif'), 'gif', [1, 1]],
      // small/webp.webp is not in the list: libwebp cannot decode its pixels (see the corpus test).
      [file('photo.webp'), 'webp', [320, 200]],
      [file('photo.avif'), 'avif', [640, 480]],
      [join(CORPUS, 'pngsuite/bmp/basn2c08.bmp'), 'png', [32, 32]],
    ]
    for (const [path, format, [width, height]] of cases) {
      const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, path)
      expect(response.status, `${path}: ${JSON.stringify(body)}`).toBe(201)
      expect(body.image.metadata, path).toMatchObject({ format, width, height })
    }
  })

  test('the extension and the declared type are ignored: a PNG named .jpg is stored as PNG', async () => {
    const user = await signUp(app())
    const form = new FormData()
    form.append('file', new File([await Bun.file(join(CORPUS, 'pngsuite/png/basn2c08.png')).bytes()], 'holiday.jpg', { type: 'image/jpeg' }))
    const [response, body] = await call(app().upload, 'POST', '/upload', { apiKey: user.apiKey, body: form })
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect(body.image.metadata.format).toBe('png')
    expect(body.image.filename).toEndWith('.png')
  })

  test('BMP is stored as PNG and the response says so', async () => {
    const user = await signUp(app())
    const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, join(CORPUS, 'pngsuite/bmp/basn6a08.bmp'))
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect(body.image.metadata).toMatchObject({ format: 'png', converted_from: 'bmp', width: 32, height: 32 })
    for (const variant of await storedVariants(app(), body.image.id)) {
      expect(['png', 'webp']).toContain((await sharp(variant.bytes).metadata()).format)
    }
  })

  test('animated GIFs keep their frames in every variant', async () => {
    const user = await signUp(app())
    const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, file('animated.gif'))
    expect(response.status, JSON.stringify(body)).toBe(201)
    expect(body.image.metadata).toMatchObject({ format: 'gif', width: 40, height: 30, frames: 3 })
    for (const variant of await storedVariants(app(), body.image.id)) {
      expect((await sharp(variant.bytes, { animated: true }).metadata()).pages, variant.key).toBe(3)
    }
  })

  test('medium is skipped when the original is smaller; a WebP original has no second twin', async () => {
    const user = await signUp(app())
    const [, small] = await uploadFile(app().upload, { apiKey: user.apiKey }, join(CORPUS, 'orientation/landscape_1.jpg'))
    const smallNames = (await storedVariants(app(), small.image.id)).map((v) => v.name)
    expect(smallNames).not.toContain('medium')
    expect(smallNames).toContain('thumb')
    const [, webp] = await uploadFile(app().upload, { apiKey: user.apiKey }, file('large.webp'))
    const webpVariants = (await storedVariants(app(), webp.image.id)).map((v) => `${v.name}.${v.format}`).sort()
    expect(webpVariants).toEqual(['medium.webp', 'original.webp', 'thumb.webp'])
  })

  test('is_public defaults to the account setting; is_public and title are taken from the form', async () => {
    const user = await signUp(app())
    const publicFlag = async (id: string) => (await app().ctx.sql`select is_public, title from images where id = ${id}`)[0]!
    const [, byDefault] = await uploadFile(app().upload, { apiKey: user.apiKey }, join(CORPUS, 'pngsuite/png/basn0g01.png'))
    expect(await publicFlag(byDefault.image.id)).toEqual({ is_public: true, title: null })
    const [, explicit] = await uploadFile(app().upload, { apiKey: user.apiKey }, join(CORPUS, 'pngsuite/png/basn0g02.png'), { is_public: 'false', title: '  Sunset  ' })
    expect(await publicFlag(explicit.image.id)).toEqual({ is_public: false, title: 'Sunset' })
    await app().ctx.sql`update users set default_is_public = false where id = ${user.id}`
    await changeOutsideApiPropagated(app())
    const [, privateDefault] = await uploadFile(app().upload, { apiKey: user.apiKey }, join(CORPUS, 'pngsuite/png/basn0g04.png'))
    expect((await publicFlag(privateDefault.image.id)).is_public).toBe(false)
    const [bad, badBody] = await uploadFile(app().upload, { apiKey: user.apiKey }, join(CORPUS, 'pngsuite/png/basn0g08.png'), { is_public: 'maybe' })
    expect(bad.status).toBe(400)
    expect(badBody.error.code).toBe('invalid_is_public')
  })

  test('the same bytes again return the existing image (200, same id) and store nothing', async () => {
    const user = await signUp(app())
    const path = join(CORPUS, 'pngsuite/png/basn3p08.png')
    const [first, created] = await uploadFile(app().upload, { apiKey: user.apiKey }, path)
    expect(first.status).toBe(201)
    const before = await footprint(app(), user.id)
    const [again, duplicate] = await uploadFile(app().upload, { token: user.token }, path)
    expect(again.status, JSON.stringify(duplicate)).toBe(200)
    expect(duplicate).toEqual(created)
    expect(await footprint(app(), user.id)).toEqual(before)
    // Another user's identical bytes are their own image.
    const other = await signUp(app())
    const [theirs, theirBody] = await uploadFile(app().upload, { apiKey: other.apiKey }, path)
    expect(theirs.status).toBe(201)
    expect(theirBody.image.id).not.toBe(created.image.id)
  })

  test('the same bytes asked for with the other visibility are a 409 naming the stored image, which stays as it was', async () => {
    const user = await signUp(app())
    const path = join(CORPUS, 'pngsuite/png/basn3p04.png')
    const [first, created] = await uploadFile(app().upload, { apiKey: user.apiKey }, path, { is_public: 'true' })
    expect(first.status).toBe(201)
    const before = await footprint(app(), user.id)
    const [privately, refused] = await uploadFile(app().upload, { apiKey: user.apiKey }, path, { is_public: 'false' })
    expect(privately.status, JSON.stringify(refused)).toBe(409)
    expect(refused.error.code).toBe('duplicate_image')
    expect(refused.error.message).toContain(created.image.id)
    expect(refused.error.message).toContain('public')
    // The stored image is named in a field too, so a client links to it without reading the message.
    expect(refused.error.details).toEqual([{ field: 'image', message: 'the image these bytes already are', value: created.image.id }])
    const [row] = await app().ctx.sql`select is_public from images where id = ${created.image.id}`
    expect(row!.is_public).toBe(true)
    expect(await footprint(app(), user.id)).toEqual(before)
    // Asking for what it already is still answers the stored image.
    const [same, sameBody] = await uploadFile(app().upload, { apiKey: user.apiKey }, path, { is_public: 'true' })
    expect(same.status).toBe(200)
    expect(sameBody.image.id).toBe(created.image.id)
    // Another title or description would be dropped unseen (an outside test): refused the same way.
    for (const fields of [{ title: 'A new title' }, { description: 'New words' }] as Record<string, string>[]) {
      const [renamed, renamedBody] = await uploadFile(app().upload, { apiKey: user.apiKey }, path, { is_public: 'true', ...fields })
      expect([renamed.status, renamedBody.error?.code], JSON.stringify(renamedBody)).toEqual([409, 'duplicate_image'])
      expect(renamedBody.error.message).toContain(`PATCH /images/${created.image.id}`)
      expect(renamedBody.error.details?.[0]?.value).toBe(created.image.id)
    }
    expect(await footprint(app(), user.id)).toEqual(before)
  })

  test('a field given twice with different values is a 400 and nothing is stored; the same value twice is fine', async () => {
    const user = await signUp(app())
    const form = (values: string[]) => {
      const body = new FormData()
      for (const value of values) body.append('is_public', value)
      body.append('file', Bun.file(join(CORPUS, 'pngsuite/png/basn2c08.png')), 'twice.png')
      return body
    }
    const before = await footprint(app(), user.id)
    for (const values of [['true', 'false'], ['false', 'true']]) {
      const [conflicting, body] = await call(app().upload, 'POST', '/upload', { apiKey: user.apiKey, body: form(values) })
      expect({ values, status: conflicting.status, code: body.error?.code }).toEqual({ values, status: 400, code: 'conflicting_field' })
      expect(body.error.message).toContain('is_public')
    }
    expect(await footprint(app(), user.id)).toEqual(before)
    const [repeated, stored] = await call(app().upload, 'POST', '/upload', { apiKey: user.apiKey, body: form(['false', 'false']) })
    expect(repeated.status).toBe(201)
    const [row] = await app().ctx.sql`select is_public from images where id = ${stored.image.id}`
    expect(row!.is_public).toBe(false)
  })

  test('two files in the file field are a 400 and nothing is stored; a file in another field is ignored', async () => {
    const user = await signUp(app())
    const before = await footprint(app(), user.id)
    const twoFiles = new FormData()
    twoFiles.append('file', Bun.file(join(CORPUS, 'pngsuite/png/basn0g16.png')), 'one.png')
    twoFiles.append('file', Bun.file(join(CORPUS, 'pngsuite/png/basn2c16.png')), 'two.png')
    const [refused, refusal] = await call(app().upload, 'POST', '/upload', { apiKey: user.apiKey, body: twoFiles })
    expect({ status: refused.status, code: refusal.error?.code }).toEqual({ status: 400, code: 'too_many_files' })
    expect(await footprint(app(), user.id)).toEqual(before)
    const withOther = new FormData()
    withOther.append('thumbnail', Bun.file(join(CORPUS, 'pngsuite/png/basn0g16.png')), 'thumb.png')
    withOther.append('file', Bun.file(join(CORPUS, 'pngsuite/png/basn2c16.png')), 'two.png')
    const [stored, body] = await call(app().upload, 'POST', '/upload', { apiKey: user.apiKey, body: withOther })
    expect(stored.status, JSON.stringify(body)).toBe(201)
    expect(body.image.metadata.format).toBe('png')
  })

  test('a query parameter given twice with different values is a 400 on any route; the same value twice is fine', async () => {
    const user = await signUp(app())
    const before = await footprint(app(), user.id)
    const body = new FormData()
    body.append('file', Bun.file(join(CORPUS, 'pngsuite/png/basn2c16.png')), 'query.png')
    const [upload, uploadBody] = await call(app().upload, 'POST', '/upload?max_views=5&max_views=1', { apiKey: user.apiKey, body })
    expect({ status: upload.status, code: uploadBody.error?.code }).toEqual({ status: 400, code: 'conflicting_field' })
    expect(uploadBody.error.message).toContain('max_views')
    expect(await footprint(app(), user.id)).toEqual(before)
    const [list, listBody] = await call(app().upload, 'GET', '/images?limit=5&limit=10', { apiKey: user.apiKey })
    expect({ status: list.status, code: listBody.error?.code }).toEqual({ status: 400, code: 'conflicting_field' })
    const [same] = await call(app().upload, 'GET', '/images?limit=5&limit=5', { apiKey: user.apiKey })
    expect(same.status).toBe(200)
  })

  test('a long file name is cut between characters, never inside an emoji', async () => {
    const user = await signUp(app())
    const bytes = await sharp({ create: { width: 9, height: 7, channels: 3, background: { r: 1, g: 2, b: 250 } } }).png().toBuffer()
    const form = new FormData()
    form.append('file', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), `${'😀'.repeat(300)}.png`)
    const [response, body] = await call(app().upload, 'POST', '/upload', { apiKey: user.apiKey, body: form })
    expect(response.status, JSON.stringify(body)).toBe(201)
    const [row] = await app().ctx.sql`select original_name from images where id = ${body.image.id}`
    const name = row!.original_name as string
    expect(name.length).toBeLessThanOrEqual(255)
    expect(name.length).toBeGreaterThanOrEqual(254)
    expect(name).not.toContain('\uFFFD')
    // The extension is kept: a download named without one opens in nothing.
    expect(name.endsWith('.png')).toBe(true)
    expect([...name.slice(0, -4)].every((character) => character === '😀')).toBe(true)

    // Bidirectional overrides disguise an extension ("gnp.\u202Eexe.png" reads "gnp.gnp.exe"), and the Imgur API's name may carry a path.
    const named = async (form: FormData, path: string, headers: Record<string, string> = {}) => {
      const [created, createdBody] = await call(app().upload, 'POST', path, { apiKey: user.apiKey, body: form, headers })
      expect(created.status, JSON.stringify(createdBody)).toBeLessThan(300)
      const id = createdBody.image?.id ?? createdBody.data?.id
      return (await app().ctx.sql`select original_name from images where id = ${id}`)[0]!.original_name as string
    }
    const png = async () => new Blob([new Uint8Array(await freshPng(8, 8))], { type: 'image/png' })
    const disguised = new FormData()
    disguised.append('file', await png(), 'gnp.\u202Eexe.png')
    const imgur = new FormData()
    imgur.append('image', await png(), 'x.png')
    imgur.append('name', '../../../../tmp/evil.png')
    expect(await named(disguised, '/upload')).toBe('gnp.exe.png')
    expect(await named(imgur, '/3/image', { authorization: `Client-ID ${user.apiKey}` })).toBe('evil.png')
    // A browser sends `"` and a line break in a file name as %22 and %0A (HTML's form encoding).
    const quoted = new FormData()
    quoted.append('file', await png(), 'say %22hi%22%0A.png')
    expect(await named(quoted, '/upload')).toBe('say "hi".png')
  })

  test('two identical uploads racing each other end as one image', async () => {
    const user = await signUp(app())
    const path = join(CORPUS, 'pngsuite/png/basn6a16.png')
    const before = await footprint(app(), user.id)
    const results = await Promise.all([1, 2, 3].map(() => uploadFile(app().upload, { apiKey: user.apiKey }, path)))
    const ids = [...new Set(results.map(([, body]) => body.image?.id))]
    expect(ids).toHaveLength(1)
    expect(results.map(([r]) => r.status).filter((s) => s === 201)).toHaveLength(1)
    expect(results.map(([r]) => r.status).filter((s) => s === 200)).toHaveLength(2)
    const winnerKeys = (await storedVariants(app(), ids[0]!)).map((v) => v.key)
    const after = await footprint(app(), user.id)
    expect(after.images).toBe(1)
    expect(after.uploads).toBe(1)
    expect(after.objects).toEqual([...before.objects, ...winnerKeys].sort())
    expect(after.tempFiles).toEqual([])
  })

  test('a missing file field is 400; a body that is not multipart is 415', async () => {
    const user = await signUp(app())
    const form = new FormData()
    form.append('title', 'no file')
    const [missing, missingBody] = await call(app().upload, 'POST', '/upload', { apiKey: user.apiKey, body: form })
    expect(missing.status).toBe(400)
    expect(missingBody.error.code).toBe('file_required')
    // The image in a part without a filename (or an empty one) is read as text by the parser: it
    // was refused as "text may not contain NUL", which says nothing of the missing file name.
    const png = await Bun.file(join(CORPUS, 'small/png-transparent.png')).bytes()
    for (const disposition of ['form-data; name="file"', 'form-data; name="file"; filename=""']) {
      const head = `--b\r\nContent-Disposition: ${disposition}\r\nContent-Type: image/png\r\n\r\n`
      const body = Buffer.concat([Buffer.from(head), png, Buffer.from('\r\n--b--\r\n')])
      const [unnamed, unnamedBody] = await call(app().upload, 'POST', '/upload', { apiKey: user.apiKey, body: new Uint8Array(body), headers: { 'content-type': 'multipart/form-data; boundary=b' } })
      expect({ disposition, status: unnamed.status, code: unnamedBody.error?.code }).toEqual({ disposition, status: 400, code: 'file_required' })
    }
    // A description of 2,000 characters fits, whatever the script: 漢 is three bytes in UTF-8.
    const described = new FormData()
    described.append('file', new Blob([new Uint8Array(await freshPng(20, 20))], { type: 'image/png' }), 'described.png')
    described.append('description', '漢'.repeat(2000))
    const [long, longBody] = await call(app().upload, 'POST', '/upload', { apiKey: user.apiKey, body: described })
    expect(long.status, JSON.stringify(longBody)).toBe(201)
    const [, stored] = await call(app().upload, 'GET', `/images/${longBody.image.id}`, { apiKey: user.apiKey })
    expect(stored.image.description).toBe('漢'.repeat(2000))
    const [raw, rawBody] = await call(app().upload, 'POST', '/upload', {
      apiKey: user.apiKey,
      body: await Bun.file(join(CORPUS, 'small/png-transparent.png')).bytes(),
      headers: { 'content-type': 'image/png' },
    })
    expect(raw.status).toBe(415)
    expect(rawBody.error.code).toBe('multipart_required')
    // Multipart without its boundary is a malformed multipart body, not another kind of body.
    const [unbounded, unboundedBody] = await call(app().upload, 'POST', '/upload', {
      apiKey: user.apiKey,
      body: await Bun.file(join(CORPUS, 'small/png-transparent.png')).bytes(),
      headers: { 'content-type': 'multipart/form-data' },
    })
    expect([unbounded.status, unboundedBody.error.code]).toEqual([400, 'invalid_multipart'])
    const [cut, cutBody] = await call(app().upload, 'POST', '/upload', {
      apiKey: user.apiKey,
      body: '--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n\x89PNG',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
    })
    expect(cut.status).toBe(400)
    expect(cutBody.error.code).toBe('invalid_multipart')
    expect((await footprint(app(), user.id)).tempFiles).toEqual([])
  })

  test('needs credentials; a session works; a deleted API key is 401 at once', async () => {
    const user = await signUp(app())
    const path = join(CORPUS, 'pngsuite/png/basn2c16.png')
    const [anonymous, anonymousBody] = await uploadFile(app().upload, {}, path)
    expect(anonymous.status).toBe(401)
    expect(anonymousBody.success).toBe(false)
    const [bySession] = await uploadFile(app().upload, { token: user.token }, path)
    expect(bySession.status).toBe(201)
    const [, keys] = await call(app().auth, 'GET', '/api/v1/api-keys', { token: user.token })
    const [deleted] = await call(app().auth, 'DELETE', `/api/v1/api-keys/${keys.api_keys[0].id}`, { token: user.token })
    expect(deleted.status).toBe(200)
    const before = await footprint(app(), user.id)
    for (const [method, path2] of [['GET', '/images'], ['GET', '/upload/quota']] as const) {
      const [response, body] = await call(app().upload, method, path2, { apiKey: user.apiKey })
      expect(response.status, path2).toBe(401)
      expect(body.error.code).toBe('invalid_api_key')
    }
    const [revoked, revokedBody] = await uploadFile(app().upload, { apiKey: user.apiKey }, join(CORPUS, 'pngsuite/png/basn3p01.png'))
    expect(revoked.status).toBe(401)
    expect(revokedBody.error.code).toBe('invalid_api_key')
    expect(await footprint(app(), user.id)).toEqual(before)
  })
})
