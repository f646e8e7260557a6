import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { LogEntry } from '#core/logger.ts'
import { type FaultyStorage, withFaults } from '#core/storage/faults.ts'
import type { ObjectStorage } from '#core/storage/types.ts'
import { type TestApp, describeEachBackend, useSlowTestTimeout } from '../helpers/context.ts'
import { recordingLogger } from '../helpers/flows.ts'
import { call } from '../helpers/http.ts'
import { CORPUS, uploadFile } from '../helpers/images.ts'
import { type S3rverProcess, createTestAppOn, startS3rverProcess } from '../helpers/s3rver-process.ts'
import { distinctPng, form, png } from './compat-support.ts'
import { signUp } from './support.ts'

/**
 * An outside test (2026-12-07) froze the store under one upload and got four lines, three of which
 * could not be tied to the request; "object left behind" was an error whose text said a delete had
 * failed although none was tried. Now the upload's storage lines carry its request_id, and a key
 * left for the orphan sweep is a warning that says so and why.
 */

/** A camera photo: its original and smaller sizes make several puts. */
const PHOTO = join(CORPUS, 'gps/DSCN0010.jpg')

type Line = LogEntry & { level: string }
const STORAGE_LINES = ['storage put failed', 'object left behind']
const storageLinesOf = (entries: Line[], requestId: string | null) => entries.filter((line) => STORAGE_LINES.includes(line.msg) && line.request_id === requestId)

let faults: FaultyStorage | undefined
const log = recordingLogger()

describeEachBackend(
  'an upload the store fails: its log lines',
  (app) => {
    test('put refused, then the delete refused: both lines carry the request id; the object left is a warning naming the orphan sweep', async () => {
      const user = await signUp(app())
      faults!.setFaults({ failPutAfter: 1, failDeletes: true })
      log.entries.length = 0
      try {
        const [response, body] = await uploadFile(app().upload, { apiKey: user.apiKey }, PHOTO)
        expect(response.status, JSON.stringify(body)).toBe(503)
        const requestId = response.headers.get('x-request-id')
        expect(requestId).toBeTruthy()
        const lines = storageLinesOf(log.entries, requestId)
        // Every storage line of the upload is its own, none without the id.
        expect(log.entries.filter((line) => STORAGE_LINES.includes(line.msg))).toEqual(lines)
        expect(lines.filter((line) => line.msg === 'storage put failed').map((line) => line.level)).toContain('error')
        const leftBehind = lines.filter((line) => line.msg === 'object left behind')
        // The put that went through left an object, the refused ones maybe (a put abandoned at its deadline may land later).
        expect(leftBehind.length).toBeGreaterThan(0)
        for (const line of leftBehind) {
          expect(line).toMatchObject({ level: 'warn', request_id: requestId, reason: expect.stringContaining('the delete failed: InjectedStorageFault') })
          expect(String(line.cleanup)).toContain('orphan sweep')
        }
      } finally {
        faults!.setFaults({})
      }
    })

    test('a compatible API (Chevereto) puts its request id on the same lines', async () => {
      const user = await signUp(app())
      faults!.setFaults({ failPutAfter: 0 })
      log.entries.length = 0
      try {
        const [response, body] = await call(app().upload, 'POST', '/api/1/upload', { headers: { 'x-api-key': user.apiKey }, body: form({ source: png(await distinctPng()) }) })
        expect(response.status, JSON.stringify(body)).toBe(503)
        const requestId = response.headers.get('x-request-id')
        const lines = storageLinesOf(log.entries, requestId)
        expect(lines.map((line) => [line.msg, line.level])).toContainEqual(['storage put failed', 'error'])
        expect(log.entries.filter((line) => STORAGE_LINES.includes(line.msg))).toEqual(lines)
      } finally {
        faults!.setFaults({})
      }
    })
  },
  {
    log,
    wrapStorage: (storage: ObjectStorage) => {
      faults = withFaults(storage)
      return faults.storage
    },
  },
)

describe('an upload while the store is down (s3rver killed): its log lines', () => {
  useSlowTestTimeout()
  const outageLog = recordingLogger()
  let s3: S3rverProcess
  let app: TestApp

  beforeAll(async () => {
    s3 = await startS3rverProcess()
    // debug: the request lines of /ready are built at all only then.
    app = await createTestAppOn(s3, { env: { STORAGE_TIMEOUT_MS: '1000', STORAGE_MAX_ATTEMPTS: '2', LOG_LEVEL: 'debug' }, log: outageLog })
    expect(app.ctx.storage.kind).toBe('s3')
  }, 180_000)
  afterAll(async () => {
    await s3?.kill()
    await app?.close()
  })

  test('no line says a delete failed when none was tried; what is left is a warning for the orphan sweep', async () => {
    const user = await signUp(app)
    await s3.kill()
    outageLog.entries.length = 0
    const [response, body] = await uploadFile(app.upload, { apiKey: user.apiKey }, PHOTO)
    expect(response.status, JSON.stringify(body)).toBe(503)
    const requestId = response.headers.get('x-request-id')
    const lines = storageLinesOf(outageLog.entries, requestId)
    expect(outageLog.entries.filter((line) => STORAGE_LINES.includes(line.msg))).toEqual(lines)
    expect(lines.map((line) => line.msg)).toContain('storage put failed')
    const leftBehind = lines.filter((line) => line.msg === 'object left behind')
    expect(leftBehind.length).toBeGreaterThan(0)
    for (const line of leftBehind) {
      expect(line).toMatchObject({ level: 'warn', reason: 'the store is unreachable, so no delete was tried' })
      expect(String(line.cleanup)).toContain('orphan sweep')
    }
    // The store's state, once: not the request's, so without its id.
    expect(outageLog.entries.filter((line) => line.msg === 'storage unreachable').map((line) => line.level)).toEqual(['warn'])
    expect(JSON.stringify(outageLog.entries)).not.toContain('during delete')
  })

  // The README says so; each load balancer asks every second or so, and the state is logged once when it changes.
  test("/ready's 503 while the store is down is logged at debug, like its 200", async () => {
    await s3.kill()
    // A call that finds the store gone marks it down (the test before did so, if it ran).
    await app.ctx.storage.head('images/none').catch(() => {})
    outageLog.entries.length = 0
    const [ready] = await call(app.upload, 'GET', '/ready')
    expect(ready.status).toBe(503)
    const readyLine = async () => {
      for (let waited = 0; waited < 100; waited++) {
        const line = outageLog.entries.find((entry) => entry.msg === 'request' && entry.route === '/ready')
        if (line) return line
        await Bun.sleep(10)
      }
    }
    expect(await readyLine()).toMatchObject({ level: 'debug', status: 503 })
  })
})
