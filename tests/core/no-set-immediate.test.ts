import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Database } from '#core/db/index.ts'
import { BACKENDS, createTestDatabase, useSlowTestTimeout } from '../helpers/context.ts'

useSlowTestTimeout()

/**
 * Bun 1.4.4 at times goes to sleep with a setImmediate callback pending, which then runs only at
 * the next unrelated event: a sign-up waited 30 s for one query in the browser tests, until
 * Playwright's timeout woke the process. So no query may wait on setImmediate. postgres.js
 * batches its small writes in a microtask (patches/postgres@3.4.9.patch), and the embedded
 * database's socket server handles what it reads in one (patches/@electric-sql%2Fpglite-socket@0.2.17.patch).
 * Here setImmediate holds every callback back while queries run: with either driver unpatched,
 * they never finish.
 */
const QUERY_DEADLINE_MS = 5_000

for (const kind of new Set(BACKENDS.map((backend) => backend.database))) {
  describe(`queries never wait for setImmediate [${kind}]`, () => {
    let database: Database
    let drop: () => Promise<void>

    beforeAll(async () => {
      ;({ database, drop } = await createTestDatabase(kind))
    })
    afterAll(() => drop?.())

    test('new statements, a pipeline and a transaction finish while immediates are held back', async () => {
      const sql = database.sql
      const held: (() => void)[] = []
      const setImmediateBefore = globalThis.setImmediate
      globalThis.setImmediate = ((callback: (...args: unknown[]) => void, ...args: unknown[]) => {
        held.push(() => callback(...args))
        return setImmediateBefore(() => {}) // a real handle, so clearImmediate still has one to clear
      }) as unknown as typeof setImmediate
      const inTime = <T>(what: string, work: Promise<T>) =>
        Promise.race([work, Bun.sleep(QUERY_DEADLINE_MS).then(() => Promise.reject(new Error(`${what} waited for setImmediate`)))])
      try {
        // A statement this connection has not prepared yet: parse and describe first, then execute.
        const [row] = await inTime('a new statement', sql<{ answer: number }[]>`select ${41}::int + 1 as answer`)
        expect(row!.answer).toBe(42)
        // Several at once share the connections' write buffers.
        const many = await inTime('a pipeline', Promise.all(Array.from({ length: 8 }, (_, i) => sql<{ n: number }[]>`select ${i}::int as n`)))
        expect(many.map(([found]) => found!.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
        const inTransaction = await inTime(
          'a transaction',
          sql.begin(async (tx) => {
            await tx`create temporary table held_back (n int) on commit drop`
            await tx`insert into held_back values (${1}), (${2})`
            const [sum] = await tx<{ total: number }[]>`select sum(n)::int as total from held_back`
            return sum!.total
          }),
        )
        expect(inTransaction).toBe(3)
      } finally {
        globalThis.setImmediate = setImmediateBefore
        for (const run of held) run()
      }
    })
  })
}
