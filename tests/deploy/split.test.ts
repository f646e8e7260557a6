import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { basename, join } from 'node:path'
import { CORPUS } from '../helpers/images.ts'
import type { RunningServer } from '../../scripts/lib/process.ts'
import { verifyFromMailDir } from '../../scripts/lib/mailed-verification.ts'
import { type Cluster, SPLIT_METRICS_TOKEN, startCluster } from './cluster.ts'
import { parseMetrics, total } from '../helpers/prometheus.ts'

const scrapeHeaders = { authorization: `Bearer ${SPLIT_METRICS_TOKEN}` }

/**
 * Split mode as deployed (./cluster.ts): one auth process, two upload and two view replicas,
 * one PostgreSQL, one S3 store, and nginx in front with deploy/nginx.conf.
 */
const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL
const NGINX = '/usr/sbin/nginx'
const skipReason = !TEST_DATABASE_URL
  ? 'TEST_DATABASE_URL is not set (split mode needs a real PostgreSQL)'
  : !existsSync(NGINX)
    ? `${NGINX} is missing (apt-get install -y nginx)`
    : undefined
if (skipReason) console.warn(`split-mode test skipped: ${skipReason}`)

async function json(response: Response) {
  const text = await response.text()
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

async function postJson(url: string, body: unknown, token?: string, method = 'POST') {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  })
  return [response, await json(response)] as const
}

async function upload(baseUrl: string, apiKey: string, file: string) {
  const form = new FormData()
  form.append('file', Bun.file(file), basename(file))
  const response = await fetch(`${baseUrl}/upload`, { method: 'POST', headers: { 'x-api-key': apiKey }, body: form })
  return [response, await json(response)] as const
}

/** The path of a public image URL, fetched from one particular replica. */
const onReplica = (server: RunningServer, publicUrl: string) => {
  const url = new URL(publicUrl)
  return `${Object.values(server.urls)[0]}${url.pathname}${url.search}`
}

describe.skipIf(skipReason !== undefined)('split mode behind nginx', () => {
  let cluster: Cluster
  let adminToken: string
  let apiKey: string
  let image: { id: string; url: string; thumbnail: string }
  const suiteStarted = performance.now()

  beforeAll(async () => {
    cluster = await startCluster(NGINX, TEST_DATABASE_URL!)
  }, 300_000)
  afterAll(async () => {
    await cluster?.close()
    console.log(`split-mode suite: ${((performance.now() - suiteStarted) / 1000).toFixed(1)} s`)
  }, 60_000)

  test('register and log in through nginx; request ids cross it; /metrics is not public', async () => {
    const [registered, account] = await postJson(`${cluster.public.auth}/api/v1/auth/register`, {
      first_name: 'Ada', username: 'ada', email: 'ada@example.com', password: 'split mode admin',
    })
    expect(registered.status, JSON.stringify(account)).toBe(201)
    expect(account.user.is_admin).toBe(true)
    // nginx's $request_id reached the process, which echoed it.
    expect(registered.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/)
    const [login, session] = await postJson(`${cluster.public.auth}/api/v1/auth/login`, { identifier: 'ada@example.com', password: 'split mode admin' })
    expect(login.status).toBe(200)
    adminToken = session.token
    await verifyFromMailDir(cluster.authDataDir, 'ada@example.com', cluster.public.auth)
    const [created, key] = await postJson(`${cluster.public.auth}/api/v1/api-keys`, { key_name: 'split' }, adminToken)
    expect(created.status).toBe(201)
    apiKey = key.api_key.key
    // A session made by the auth process is good on every replica: the secret is shared.
    for (const server of [...cluster.uploads, ...cluster.views]) {
      const base = Object.values(server.urls)[0]
      const response = await fetch(`${base}/health`)
      expect(response.status).toBe(200)
    }
    for (const server of cluster.uploads) {
      const quota = await fetch(`${server.urls.upload}/upload/quota`, { headers: { authorization: `Bearer ${adminToken}` } })
      expect(quota.status).toBe(200)
    }
    for (const base of Object.values(cluster.public)) expect((await fetch(`${base}/metrics`)).status).toBe(403)
    expect((await fetch(`${cluster.uploads[0].urls.upload}/metrics`, { headers: scrapeHeaders })).status).toBe(200)
  }, 60_000)

  test('upload through one upload replica, view through the other view replica', async () => {
    const [uploaded, body] = await upload(cluster.uploads[0].urls.upload!, apiKey, join(CORPUS, 'orientation', 'landscape_5.jpg'))
    expect(uploaded.status, JSON.stringify(body)).toBe(201)
    image = body.image
    expect(image.url.startsWith(cluster.public.view)).toBe(true)
    const fromOther = await fetch(onReplica(cluster.views[1], image.url))
    expect(fromOther.status).toBe(200)
    const bytes = new Uint8Array(await fromOther.arrayBuffer())
    const fromFirst = new Uint8Array(await (await fetch(onReplica(cluster.views[0], image.url))).arrayBuffer())
    expect(Bun.hash(bytes)).toBe(Bun.hash(fromFirst))
    expect(bytes.length).toBe(body.image.metadata.size)
    const throughNginx = await fetch(image.thumbnail)
    expect(throughNginx.status).toBe(200)
    expect(throughNginx.headers.get('content-type')).toStartWith('image/jpeg')
  }, 60_000)

  test('a delete on one upload replica is a 404 on every view replica at once (NOTIFY), not after the 1 s lookup lifetime', async () => {
    const [uploaded, body] = await upload(cluster.uploads[0].urls.upload!, apiKey, join(CORPUS, 'orientation', 'landscape_7.jpg'))
    expect(uploaded.status).toBe(201)
    const urls = cluster.views.flatMap((view) => [onReplica(view, body.image.url), onReplica(view, body.image.thumbnail), `${view.urls.view}/i/${body.image.id}`])
    // Warm whatever each replica caches.
    for (let round = 0; round < 2; round++) for (const url of urls) expect((await fetch(url)).status).toBe(200)

    const deleted = await fetch(`${cluster.uploads[1].urls.upload}/images/${body.image.id}`, { method: 'DELETE', headers: { 'x-api-key': apiKey } })
    expect(deleted.status).toBe(200)
    const deletedAt = performance.now()
    const goneAfter = await Promise.all(
      urls.map(async (url) => {
        for (;;) {
          const response = await fetch(url)
          await response.arrayBuffer()
          if (response.status === 404) return performance.now() - deletedAt
          if (performance.now() - deletedAt > 5_000) return Number.POSITIVE_INFINITY
          await Bun.sleep(25)
        }
      }),
    )
    console.log(`delete → 404 on every view replica after ${Math.max(...goneAfter).toFixed(0)} ms`)
    // Tens of milliseconds when notified; the 1 s lookup lifetime is only the fallback.
    expect(Math.max(...goneAfter)).toBeLessThan(500)
  }, 60_000)

  test('a per-key rate limit is counted across replicas', async () => {
    const [created, key] = await postJson(`${cluster.public.auth}/api/v1/api-keys`, { key_name: 'five an hour', rate_limit_per_hour: 5 }, adminToken)
    expect(created.status).toBe(201)
    const statuses: number[] = []
    for (let i = 0; i < 7; i++) {
      const replica = cluster.uploads[i % 2]!
      statuses.push((await fetch(`${replica.urls.upload}/upload/quota`, { headers: { 'x-api-key': key.api_key.key } })).status)
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429])
  }, 60_000)

  test('the daily upload quota holds under parallel uploads spread over both replicas', async () => {
    const [registered, account] = await postJson(`${cluster.public.auth}/api/v1/auth/register`, {
      first_name: 'Quo', username: 'quota', email: 'quota@example.com', password: 'three a day only',
    })
    expect(registered.status).toBe(201)
    const [patched] = await postJson(`${cluster.public.auth}/api/v1/admin/users/${account.user.id}`, { upload_limit_per_day: 3 }, adminToken, 'PATCH')
    expect(patched.status).toBe(200)
    await verifyFromMailDir(cluster.authDataDir, 'quota@example.com', cluster.public.auth)
    const [, key] = await postJson(`${cluster.public.auth}/api/v1/api-keys`, { key_name: 'quota' }, account.token)
    const files = ['basn0g08.png', 'basn2c08.png', 'basn3p08.png', 'basn4a08.png', 'basn6a08.png', 'basi0g08.png', 'basi2c08.png', 'basi6a08.png']
    const results = await Promise.all(
      files.map((file, i) => upload(cluster.uploads[i % 2]!.urls.upload!, key.api_key.key, join(CORPUS, 'pngsuite', 'png', file))),
    )
    const statuses = results.map(([response]) => response.status).sort()
    expect(statuses, JSON.stringify(results.map(([, body]) => body))).toEqual([201, 201, 201, 429, 429, 429, 429, 429])
    for (const [response, body] of results) if (response.status === 429) expect(body.error.code).toBe('upload_limit_reached')
    const quotaResponse = await fetch(`${cluster.public.upload}/upload/quota`, { headers: { 'x-api-key': key.api_key.key } })
    const quota = await json(quotaResponse)
    expect(quota.uploads_today, `${quotaResponse.status} ${JSON.stringify(quota)}`).toBe(3)
    const list = await json(await fetch(`${cluster.public.upload}/images`, { headers: { 'x-api-key': key.api_key.key } }))
    expect(list.images).toHaveLength(3)
  }, 120_000)

  test('one view replica killed mid-load: nginx fails over, nothing is lost but what was in flight', async () => {
    const url = image.url // through nginx
    const servedBy = async (server: RunningServer) => {
      const metrics = await parseMetrics(await (await fetch(`${server.urls.view}/metrics`, { headers: scrapeHeaders })).text())
      return total(metrics, 'imghost_http_requests_total', { route: '/:file', status: '200' })
    }
    const survivorBefore = await servedBy(cluster.views[1])
    const requestCount = 240
    const concurrency = 8
    let started = 0
    let killedAt = Number.POSITIVE_INFINITY
    const failures: { startedAt: number; status: number | string }[] = []
    let ok = 0
    const worker = async () => {
      while (started < requestCount) {
        started++
        if (started === 60) {
          killedAt = performance.now()
          cluster.views[0].process.kill('SIGKILL')
        }
        const startedAt = performance.now()
        try {
          const response = await fetch(url)
          await response.arrayBuffer()
          if (response.status === 200) ok++
          else failures.push({ startedAt, status: response.status })
        } catch (error) {
          failures.push({ startedAt, status: String(error) })
        }
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
    expect(await cluster.views[0].process.exited).not.toBe(0)
    // At most the requests in flight at the kill may fail; every request begun after it succeeds.
    expect(failures.length).toBeLessThanOrEqual(concurrency)
    expect(failures.filter((failure) => failure.startedAt > killedAt)).toEqual([])
    expect(ok + failures.length).toBe(requestCount)
    // Both replicas served until the kill; the survivor took everything after it.
    const survivorServed = (await servedBy(cluster.views[1])) - survivorBefore
    console.log(`failover: ${ok}/${requestCount} served, ${failures.length} failed; the surviving replica served ${survivorServed}`)
    expect(survivorServed).toBeGreaterThanOrEqual(requestCount - 60 - concurrency)
    expect(survivorServed).toBeLessThan(requestCount)
  }, 120_000)
})
