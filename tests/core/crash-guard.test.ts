import { describe, expect, test } from 'bun:test'
import { isPostgresNullSocketError } from '#core/db/crash-guard.ts'
import { PROJECT_ROOT } from '../../scripts/lib/process.ts'

// Issue 10, item 20: the second line of defence against porsager/postgres #1066/#1154/#1208.
const driverFrame = '    at nextWrite (/app/node_modules/postgres/src/connection.js:255:15)'
const withStack = (error: Error, stack: string) => Object.assign(error, { stack: `${error.name}: ${error.message}\n${stack}` })

describe('the postgres.js null-socket guard', () => {
  test('recognises that error as Bun and Node word it, from the driver only', () => {
    expect(isPostgresNullSocketError(withStack(new TypeError("null is not an object (evaluating 'socket.write')"), driverFrame))).toBe(true)
    expect(isPostgresNullSocketError(withStack(new TypeError("Cannot read properties of null (reading 'write')"), driverFrame))).toBe(true)
    expect(isPostgresNullSocketError(withStack(new TypeError("null is not an object (evaluating 'socket.write')"), '    at handler (/app/src/app.ts:1:1)'))).toBe(false)
    expect(isPostgresNullSocketError(withStack(new Error("null is not an object (evaluating 'socket.write')"), driverFrame))).toBe(false)
    expect(isPostgresNullSocketError(withStack(new TypeError('x is undefined'), driverFrame))).toBe(false)
  })

  test('a process survives that error from a timer, and still exits 1 on any other', async () => {
    const script = `
      import { installConnectionCrashGuard } from './src/db/crash-guard.ts'
      installConnectionCrashGuard((entry) => console.log(entry.msg))
      setImmediate(() => {
        const error = new TypeError("null is not an object (evaluating 'socket.write')")
        error.stack = error.name + ': ' + error.message + '\\n' + ${JSON.stringify(driverFrame)}
        throw error
      })
      setTimeout(() => {
        console.log('alive')
        throw new Error('some other bug')
      }, 100)
    `
    const child = Bun.spawn(['bun', '-e', script], { cwd: PROJECT_ROOT, stdout: 'pipe', stderr: 'pipe' })
    const [code, out, err] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()])
    expect({ code, out }).toEqual({ code: 1, out: 'database connection lost mid-write; contained\nalive\n' })
    expect(err).toContain('some other bug')
  })
})
