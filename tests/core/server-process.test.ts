import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PROJECT_ROOT, startServer } from '../../scripts/lib/process.ts'

setDefaultTimeout(60_000)

const dataDir = mkdtempSync(join(tmpdir(), 'imghost-proc-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

describe('the server process', () => {
  test('starts all three modules with embedded defaults, survives a restart, stops cleanly on SIGTERM', async () => {
    const first = await startServer({ DATA_DIR: dataDir }, ['auth', 'upload', 'view'])
    let token: string
    try {
      for (const [module, service] of [['auth', 'auth-server'], ['upload', 'upload-server'], ['view', 'view-server']] as const) {
        const body = await (await fetch(`${first.urls[module]}/health`)).json()
        expect(body).toMatchObject({ status: 'ok', service })
      }
      expect(existsSync(join(dataDir, 'jwt-secret'))).toBe(true)
      const registered = await fetch(`${first.urls.auth}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ first_name: 'P', username: 'persist', email: 'persist@example.com', password: 'long enough pw' }),
      })
      expect(registered.status).toBe(201)
      token = (await registered.json()).token
      // A request in flight when SIGTERM arrives still completes. Its body is sent in two parts
      // around the signal, so the request has surely reached the server and cannot be over yet
      // (a request merely sent a few milliseconds before could still be in the client's socket).
      const json = JSON.stringify({ identifier: 'persist', password: 'long enough pw' })
      let sendRest = () => {}
      const restSent = new Promise<void>((resolve) => (sendRest = resolve))
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode(json.slice(0, 10)))
          await restSent
          controller.enqueue(new TextEncoder().encode(json.slice(10)))
          controller.close()
        },
      })
      const inFlight = fetch(`${first.urls.auth}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      await Bun.sleep(300)
      const exitCode = first.stop('SIGTERM')
      await Bun.sleep(100)
      sendRest()
      expect((await inFlight).status).toBe(200)
      expect(await exitCode).toBe(0)
    } finally {
      first.process.kill()
    }

    // Same DATA_DIR: the database and the JWT secret persist, so the old session still works.
    const second = await startServer({ DATA_DIR: dataDir, SERVER_MODE: 'auth' }, ['auth'])
    try {
      expect(second.urls.upload).toBeUndefined()
      const account = await fetch(`${second.urls.auth}/api/v1/account`, { headers: { authorization: `Bearer ${token!}` } })
      expect(account.status).toBe(200)
      expect((await account.json()).user.username).toBe('persist')
    } finally {
      expect(await second.stop()).toBe(0)
    }
  })

  test('a bad setting stops the start with one line naming the variable', async () => {
    const child = Bun.spawn(['bun', 'src/main.ts'], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, VIEW_PORT: 'eighty' },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    expect(await child.exited).toBe(1)
    const stderr = (await new Response(child.stderr).text()).trim()
    expect(stderr.split('\n')).toHaveLength(1)
    expect(stderr).toContain('VIEW_PORT')
  })
})
