import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { signUpWithApiKey } from '../../scripts/lib/mailed-verification.ts'
import { type RunningServer, scratchDatabase, startServer } from '../../scripts/lib/process.ts'

// Outside test h19 "clients" #1: a file part the parser does not keep (a second file in the
// image's field, or a file under another field name) was still arriving when the upload was
// refused or the client went away; busboy then failed that part's stream, which nobody listened
// to, and the uncaught error ended the whole process (auth, upload and view with it), without
// any key on the Chevereto and Lsky V1 routes. Only a real listener shows it: in process, with a
// complete body, the part has ended before the refusal.

const DATABASES = [{ label: 'embedded', url: undefined }, ...(process.env.TEST_DATABASE_URL ? [{ label: 'PostgreSQL', url: process.env.TEST_DATABASE_URL }] : [])]
const TRIES = 4

/** Incompressible bytes: a part of this size is still streaming when the one before it is judged. */
const bulk = (bytes: number) => new Blob([crypto.getRandomValues(new Uint8Array(bytes))], { type: 'image/png' })

function twoFiles(field: string, first: Blob, extra: Record<string, string> = {}) {
  const form = new FormData()
  for (const [name, value] of Object.entries(extra)) form.append(name, value)
  form.append(field, first, 'big.png')
  form.append(field, bulk(4 * 1024 * 1024), 'shot.png')
  return form
}

/** The answer, or 0 if the server closed the connection before the client had sent everything. */
async function send(url: string, form: FormData, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', headers, body: form }).catch(() => undefined)
  return response ? { status: response.status, body: (await response.json()) as any } : { status: 0, body: undefined }
}

/**
 * A multipart upload with an extra file field, declared whole (Content-Length) but cut by the
 * client while the extra part is streaming.
 */
function cutShort(url: string, apiKey: string, image: Uint8Array): Promise<void> {
  const boundary = 'cut-short-boundary'
  const head = (name: string, filename: string) =>
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: image/png\r\n\r\n`)
  const sent = Buffer.concat([head('file', 'small.png'), image, Buffer.from('\r\n'), head('junk', 'big.png'), Buffer.alloc(256 * 1024, 7)])
  const declared = sent.length + 4 * 1024 * 1024
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`POST /upload HTTP/1.1\r\nhost: localhost\r\nx-api-key: ${apiKey}\r\ncontent-type: multipart/form-data; boundary=${boundary}\r\ncontent-length: ${declared}\r\n\r\n`)
      socket.write(sent, () => setTimeout(() => socket.destroy(), 100))
    })
    socket.on('error', () => {})
    socket.on('close', () => resolve())
  })
}

describe.each(DATABASES)('an extra file part still arriving, in a real process ($label)', ({ url: serverUrl }) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'imghost-extra-parts-'))
  let database: Awaited<ReturnType<typeof scratchDatabase>> | undefined
  let server: RunningServer
  let apiKey: string
  let image: Buffer
  beforeAll(async () => {
    database = serverUrl ? await scratchDatabase(serverUrl, 'imghost_extra_parts') : undefined
    server = await startServer(
      { DATA_DIR: dataDir, SERVER_MODE: 'auth,upload', JWT_SECRET: 'extra-parts-secret-extra-parts-secret-0123', ...(database ? { DATABASE_URL: database.url } : {}) },
      ['auth', 'upload'],
      undefined,
      150_000,
    )
    ;({ apiKey } = await signUpWithApiKey(server.urls.auth!, dataDir, 'extraparts'))
    image = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3a7' } }).png().toBuffer()
  }, 170_000)
  afterAll(async () => {
    server?.process.kill('SIGKILL')
    await server?.process.exited
    await database?.drop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  const alive = async () => {
    expect(server.process.exitCode, server.output.slice(-20).join('\n')).toBeNull()
    expect((await fetch(`${server.urls.upload}/health`)).status).toBe(200)
  }

  const refusals = [
    {
      name: 'Chevereto, no key',
      path: '/api/1/upload',
      form: () => twoFiles('source', bulk(1024 * 1024)),
      headers: {},
      check: (body: any) => expect({ status_code: body.status_code, context: body.error.context }).toEqual({ status_code: 400, context: 'too_many_files' }),
    },
    {
      name: 'Lsky V1, no key',
      path: '/api/upload',
      form: () => twoFiles('image', bulk(1024 * 1024)),
      headers: {},
      check: (body: any) => expect({ code: body.code, error: body.data.code }).toEqual({ code: 400, error: 'too_many_files' }),
    },
    {
      name: 'Lsky V2 with a key',
      path: '/api/v1/upload',
      form: () => twoFiles('file', bulk(1024 * 1024)),
      headers: () => ({ authorization: `Bearer ${apiKey}` }),
      check: (body: any) => expect({ status: body.status, error: body.data.code }).toEqual({ status: false, error: 'too_many_files' }),
    },
    {
      name: 'Imgur with a key',
      path: '/3/upload',
      form: () => twoFiles('image', bulk(1024 * 1024)),
      headers: () => ({ authorization: `Client-ID ${apiKey}` }),
      check: (body: any) => expect({ status: body.status, error: body.data.code }).toEqual({ status: 400, error: 'too_many_files' }),
    },
    {
      name: 'POST /upload with a key',
      path: '/upload',
      form: () => twoFiles('file', bulk(1024 * 1024)),
      headers: () => ({ 'x-api-key': apiKey }),
      check: (body: any) => expect(body.error.code).toBe('too_many_files'),
    },
  ]

  for (const { name, path, form, headers, check } of refusals) {
    test(`${name}: two file parts are a 400 too_many_files, ${TRIES} times over, and the process lives`, async () => {
      const answered: number[] = []
      for (let i = 0; i < TRIES; i++) {
        const answer = await send(`${server.urls.upload}${path}`, form(), typeof headers === 'function' ? headers() : headers)
        answered.push(answer.status)
        if (answer.status !== 0) {
          expect(answer.status, JSON.stringify(answer.body)).toBe(400)
          check(answer.body)
        }
        await alive()
      }
      // The refusal is an answer, not a closed connection.
      expect(answered.filter((status) => status === 400).length, answered.join(',')).toBeGreaterThan(0)
    }, 60_000)
  }

  test(`an extra file field cut short by the client, ${TRIES} times over: the process lives and still stores uploads`, async () => {
    for (let i = 0; i < TRIES; i++) {
      await cutShort(server.urls.upload!, apiKey, image)
      await Bun.sleep(200)
      await alive()
    }
    const stored = new FormData()
    stored.append('file', new Blob([new Uint8Array(image)], { type: 'image/png' }), 'after.png')
    const answer = await send(`${server.urls.upload}/upload`, stored, { 'x-api-key': apiKey })
    expect(answer.status, JSON.stringify(answer.body)).toBe(201)
    // The kept parts of the cut uploads were removed with them.
    expect(readdirSync(join(dataDir, 'tmp')).filter((name) => name.startsWith('upload-'))).toEqual([])
  }, 60_000)
})
