import { describe, expect, test } from 'bun:test'
import { Semaphore } from '#core/media/semaphore.ts'

/** A task that runs until the test lets it go. */
const gate = () => {
  let open!: () => void
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { open, opened }
}

describe('Semaphore', () => {
  test('never runs more than its size, and starts waiters in arrival order', async () => {
    const pool = new Semaphore(2)
    const gates = Array.from({ length: 6 }, gate)
    const started: number[] = []
    let inFlight = 0
    let maxInFlight = 0
    const jobs = gates.map((g, i) =>
      pool.run(async () => {
        started.push(i)
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        await g.opened
        inFlight--
        return i
      }),
    )
    expect({ pending: pool.pending, running: pool.running }).toEqual({ pending: 6, running: 2 })
    await Bun.sleep(1)
    expect(started).toEqual([0, 1])

    // Release out of order: the freed slots still go to 2, then 3, the longest waiting.
    gates[1]!.open()
    await Bun.sleep(1)
    gates[0]!.open()
    await Bun.sleep(1)
    expect(started).toEqual([0, 1, 2, 3])
    expect({ pending: pool.pending, running: pool.running }).toEqual({ pending: 4, running: 2 })

    for (const g of gates) g.open()
    expect(await Promise.all(jobs)).toEqual([0, 1, 2, 3, 4, 5])
    expect(started).toEqual([0, 1, 2, 3, 4, 5])
    expect(maxInFlight).toBe(2)
    expect({ pending: pool.pending, running: pool.running }).toEqual({ pending: 0, running: 0 })
  })

  test('a failing task frees its slot and its error reaches the caller', async () => {
    const pool = new Semaphore(1)
    const failing = pool.run(async () => {
      throw new Error('boom')
    })
    const next = pool.run(async () => 'ran')
    await expect(failing).rejects.toThrow('boom')
    expect(await next).toBe('ran')
    expect(pool.pending).toBe(0)
  })

  test('rejects a size that is not a positive integer', () => {
    for (const size of [0, -1, 1.5, Number.NaN]) expect(() => new Semaphore(size)).toThrow(RangeError)
  })
})
