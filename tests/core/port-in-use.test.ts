import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { parseConfig } from '#core/config.ts'
import { startServer } from '../../scripts/lib/process.ts'
import { freshDirs, runToExit } from '../helpers/run-to-exit.ts'

setDefaultTimeout(180_000)

// Issue 10 #19: listen() set SO_REUSEPORT, so a second instance on the same ports started silently.
const freshDir = freshDirs('imghost-port-')

describe('a second process on the same ports', () => {
  test('refuses to start, with one line naming the port, and the first keeps serving', async () => {
    const first = await startServer({ DATA_DIR: freshDir(), SERVER_MODE: 'auth' }, ['auth'], undefined, 150_000)
    try {
      const port = new URL(first.urls.auth!).port
      const second = await runToExit({ DATA_DIR: freshDir(), SERVER_MODE: 'auth', AUTH_PORT: port })
      expect(second.code, second.stderr).toBe(1)
      expect(second.stderr.split('\n')).toHaveLength(1)
      expect(second.stderr).toContain(`port ${port}`)
      expect(second.stderr).toContain('auth-server')
      // Every request still reaches the first process, its database and its users.
      for (let i = 0; i < 5; i++) expect((await fetch(`${first.urls.auth}/health`)).status).toBe(200)
    } finally {
      await first.stop()
    }
  })

  test('two modules configured on one port are refused at start (outside single-port mode)', async () => {
    const { code, stderr } = await runToExit({ DATA_DIR: freshDir(), AUTH_PORT: '45123', UPLOAD_PORT: '45123' })
    expect(code, stderr).toBe(1)
    expect(stderr.split('\n')).toHaveLength(1)
    expect(stderr).toContain('UPLOAD_PORT')
  })

  test('config: shared ports are refused unless PORT asks for one listener, or the other module is not run', () => {
    expect(() => parseConfig({ AUTH_PORT: '7000', VIEW_PORT: '7000' })).toThrow(/VIEW_PORT.*AUTH_PORT/)
    expect(parseConfig({ AUTH_PORT: '7000', VIEW_PORT: '7000', SERVER_MODE: 'auth,upload' }).modules).toEqual(['auth', 'upload'])
    expect(parseConfig({ AUTH_PORT: '0', VIEW_PORT: '0' }).ports.view).toBe(0)
    expect(parseConfig({ PORT: '8080', SERVER_MODE: 'auth,view' }).singlePort).toBe(8080)
  })

  test('config: a module port beside PORT is refused (it would be ignored), naming the variable', () => {
    expect(() => parseConfig({ AUTH_PORT: '7000', VIEW_PORT: '7000', PORT: '8080' })).toThrow('AUTH_PORT="7000": must not be set together with PORT')
    expect(() => parseConfig({ VIEW_PORT: '5003', PORT: '8080' })).toThrow('VIEW_PORT="5003"')
    expect(() => parseConfig({ UPLOAD_PORT: '0', PORT: '8080', SERVER_MODE: 'auth' })).toThrow('UPLOAD_PORT="0"')
  })
})
