import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '#core/app.ts'
import { listenerPlan } from '#core/http/listen.ts'
import { parseConfig } from '#core/config.ts'
import { CORPUS } from '../helpers/images.ts'
import { type RunningServer, startServer } from '../../scripts/lib/process.ts'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'

setDefaultTimeout(180_000)

// Issue 11: PORT runs every enabled module on one listener (one origin).
describe('single-port mode: config', () => {
  test('PORT makes one listener for every enabled module, public URLs default to it; without it, one per module', () => {
    const single = parseConfig({ PORT: '8080' })
    expect(listenerPlan(single)).toEqual([{ port: 8080, modules: ['auth', 'upload', 'view'] }])
    expect(single.publicUrls).toEqual({ auth: 'http://localhost:8080', upload: 'http://localhost:8080', view: 'http://localhost:8080' })
    expect(listenerPlan(parseConfig({ PORT: '8080', SERVER_MODE: 'upload,view' }))).toEqual([{ port: 8080, modules: ['upload', 'view'] }])
    expect(listenerPlan(parseConfig({}))).toEqual([
      { port: 5001, modules: ['auth'] },
      { port: 5002, modules: ['upload'] },
      { port: 5003, modules: ['view'] },
    ])
  })
})

describeEachBackend('single-port mode: routes of all modules on one app', (app) => {
  test('no route is declared twice, core routes exist once, and API paths win over the view catch-all', async () => {
    const all = createApp(app().ctx, ['auth', 'upload', 'view'])
    const keys = all.routes.map((route) => `${route.method} ${route.path}`)
    expect(keys.length).toBe(new Set(keys).size)
    for (const path of ['/health', '/docs', '/openapi.json']) expect(keys.filter((k) => k === `GET ${path}`)).toHaveLength(1)
    // Without METRICS_TOKEN, /metrics is on no module listener (METRICS_PORT serves it).
    expect(keys).not.toContain('GET /metrics')
    const [health, healthBody] = await call(all, 'GET', '/health')
    expect(health.status).toBe(200)
    expect(healthBody.modules.map((m: { service: string }) => m.service)).toEqual(['auth-server', 'upload-server', 'view-server'])
    const user = await registerUser(all)
    // /images is the upload module's list, not an image called "images".
    const [images, imagesBody] = await call(all, 'GET', '/images', { token: user.token })
    expect(images.status, JSON.stringify(imagesBody)).toBe(200)
    expect(imagesBody.images).toEqual([])
    const [docs] = await call(all, 'GET', '/docs')
    expect(docs.headers.get('content-type')).toContain('text/html')
    const [spec, specBody] = await call(all, 'GET', '/openapi.json')
    expect(spec.status).toBe(200)
    for (const path of ['/api/v1/auth/login', '/upload', '/i/{file}', '/api/v1/images/{id}/signed-url']) expect(Object.keys(specBody.paths)).toContain(path)
  })
})

describe('single-port mode: a real process', () => {
  let server: RunningServer
  const dataDir = mkdtempSync(join(tmpdir(), 'imghost-single-'))
  beforeAll(async () => {
    // A real port number, so the default public URLs (http://localhost:PORT) point at this listener.
    const probe = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response() })
    const port = String(probe.port)
    probe.stop(true)
    server = await startServer({ DATA_DIR: dataDir, PORT: port }, ['auth', 'upload', 'view'], undefined, 150_000)
  }, 170_000)
  afterAll(async () => {
    await server?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })

  test('every module answers on one origin: register, upload, view, health of all', async () => {
    const origin = server.urls.auth!
    expect(server.urls.upload).toBe(origin)
    expect(server.urls.view).toBe(origin)
    const health = await (await fetch(`${origin}/health`)).json()
    expect(health.service).toBe('imghost')
    expect(health.modules.map((m: { module: string }) => m.module)).toEqual(['auth', 'upload', 'view'])

    const registered = await fetch(`${origin}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ first_name: 'S', username: 'single', email: 'single@example.com', password: 'long enough pw' }),
    })
    expect(registered.status).toBe(201)
    const { token } = await registered.json()
    const form = new FormData()
    form.append('file', Bun.file(join(CORPUS, 'pngsuite/png/basn2c08.png')), 'basn2c08.png')
    form.append('is_public', 'true')
    const uploaded = await fetch(`${origin}/upload`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })
    const uploadedBody = await uploaded.json()
    expect(uploaded.status, JSON.stringify(uploadedBody)).toBe(201)
    // The image's public URL is on the same origin, and served by the same listener.
    expect(new URL(uploadedBody.image.url).port).toBe(new URL(origin).port)
    const image = await fetch(`${origin}${new URL(uploadedBody.image.url).pathname}`)
    expect(image.status).toBe(200)
    expect(image.headers.get('content-type')).toMatch(/^image\//)
    const listed = await (await fetch(`${origin}/images`, { headers: { authorization: `Bearer ${token}` } })).json()
    expect(listed.images).toHaveLength(1)
  })
})
