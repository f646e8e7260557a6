import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import sharp from 'sharp'
import { MemoryBudget } from '#core/media/memory-budget.ts'
import { createHarness } from './helpers.ts'

setDefaultTimeout(30_000)

/** Lets queued grants (microtasks) run. */
const settle = () => Bun.sleep(1)

describe('MemoryBudget', () => {
  test('admits what fits, holds the rest back, and starts waiters in arrival order', async () => {
    const budget = new MemoryBudget(100)
    const order: string[] = []
    const take = (name: string, bytes: number) => budget.reserve(bytes).then((release) => (order.push(name), release))
    const a = await take('a', 60)
    const b = take('b', 50) // does not fit beside a
    const c = take('c', 10) // would fit, but may not overtake b
    await settle()
    expect({ order, reserved: budget.reserved, waiting: budget.waiting }).toEqual({ order: ['a'], reserved: 60, waiting: 2 })
    a()
    await settle()
    expect({ order, reserved: budget.reserved, waiting: budget.waiting }).toEqual({ order: ['a', 'b', 'c'], reserved: 60, waiting: 0 })
    ;(await b)()
    ;(await c)()
    expect(budget.reserved).toBe(0)
  })

  test('a job bigger than the budget runs alone, once nothing else holds any of it', async () => {
    const budget = new MemoryBudget(100)
    const small = await budget.reserve(10)
    let bigStarted = false
    const big = budget.reserve(500).then((release) => ((bigStarted = true), release))
    const after = budget.reserve(1)
    await settle()
    expect(bigStarted).toBe(false)
    small()
    const releaseBig = await big
    await settle()
    expect({ reserved: budget.reserved, waiting: budget.waiting }).toEqual({ reserved: 500, waiting: 1 })
    releaseBig()
    ;(await after)()
    expect(budget.reserved).toBe(0)
  })

  test('releasing twice gives the bytes back once', async () => {
    const budget = new MemoryBudget(100)
    const release = await budget.reserve(70)
    const other = await budget.reserve(30)
    release()
    release()
    expect(budget.reserved).toBe(30)
    other()
    expect(budget.reserved).toBe(0)
  })

  test('refuses a budget that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new MemoryBudget(bad)).toThrow(RangeError)
  })
})

describe('the media processor', () => {
  test('decodes that do not fit the budget together wait, even with a free processing slot', async () => {
    const h = await createHarness()
    try {
      // 1500 x 1000 RGB: 4.5 MB decoded each, plus the file read whole; two do not fit in 1.5 times that.
      const png = await sharp({ create: { width: 1500, height: 1000, channels: 3, background: '#396', noise: { type: 'gaussian', mean: 90, sigma: 20 } } }).png().toBuffer()
      const paths = await Promise.all([h.fixture('one.png', png), h.fixture('two.png', png)])
      const one = 1500 * 1000 * 3 + png.length
      const tight = h.withOptions({ concurrency: 2, memoryBudgetBytes: Math.floor(one * 1.5) })
      let overlapped = false
      let sawWaiting = false
      const timer = setInterval(() => {
        if (tight.memoryReserved > one) overlapped = true
        if (tight.running === 2 && tight.memoryWaiting === 1) sawWaiting = true
      }, 1)
      await Promise.all(paths.map((path) => tight.process(path)))
      clearInterval(timer)
      expect({ overlapped, sawWaiting, reserved: tight.memoryReserved }).toEqual({ overlapped: false, sawWaiting: true, reserved: 0 })

      // With room for both, both decode at once.
      const roomy = h.withOptions({ concurrency: 2, memoryBudgetBytes: one * 3 })
      let together = false
      const roomyTimer = setInterval(() => {
        if (roomy.memoryReserved === 2 * one) together = true
      }, 1)
      await Promise.all(paths.map((path) => roomy.process(path)))
      clearInterval(roomyTimer)
      expect(together).toBe(true)
    } finally {
      await h.close()
    }
  })
})
