import { describe, expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { createBytesCache } from '#modules/view/bytes-cache.ts'
import { LOOKUP_TTL_MS } from '#modules/view/image-server.ts'
import { createLookupCache } from '#modules/view/lookup-cache.ts'

describe('image lookup cache', () => {
  const setup = () => {
    const clock = manualClock(new Date(1_000_000))
    const loads: string[] = []
    let answer: string | null = 'row v1'
    const cache = createLookupCache<string>({
      ttlMs: LOOKUP_TTL_MS,
      maxEntries: 10,
      clock,
      load: async (key) => {
        loads.push(key)
        return answer
      },
    })
    return { cache, loads, advance: (ms: number) => clock.advance(ms), set: (value: string | null) => (answer = value) }
  }

  test('a change in the database is seen within one second, never later', async () => {
    expect(LOOKUP_TTL_MS).toBeLessThanOrEqual(1_000)
    const { cache, loads, advance, set } = setup()
    expect(await cache.get('a')).toBe('row v1')
    set(null) // the image is deleted
    advance(LOOKUP_TTL_MS - 1)
    expect(await cache.get('a')).toBe('row v1')
    advance(1)
    expect(await cache.get('a')).toBeNull()
    expect(loads).toEqual(['a', 'a'])
  })

  test('concurrent lookups share one query, and misses are cached too', async () => {
    const { cache, loads, set } = setup()
    set(null)
    const results = await Promise.all(Array.from({ length: 100 }, () => cache.get('missing')))
    expect(results.every((r) => r === null)).toBe(true)
    expect(loads).toEqual(['missing'])
  })

  test('a failed lookup is not remembered', async () => {
    let fail = true
    const cache = createLookupCache<string>({ ttlMs: 1000, maxEntries: 10, clock: manualClock(), load: async () => {
      if (fail) throw new Error('database down')
      return 'row'
    } })
    await expect(cache.get('a')).rejects.toThrow('database down')
    fail = false
    expect(await cache.get('a')).toBe('row')
  })

  test('invalidate forgets a key at once; a query under way still answers its callers but is not kept', async () => {
    const { cache, loads, set } = setup()
    expect(await cache.get('a')).toBe('row v1')
    set('row v2')
    cache.invalidate('a')
    expect(await cache.get('a')).toBe('row v2')
    const pending = cache.get('b')
    cache.invalidate('b')
    expect(await pending).toBe('row v2')
    await cache.get('b')
    expect(loads).toEqual(['a', 'a', 'b', 'b'])
  })

  test('invalidateWhere forgets matching values and anything still loading', async () => {
    const { cache, loads } = setup()
    await cache.get('a')
    await cache.get('b')
    const loading = cache.get('c')
    cache.invalidateWhere((value) => value === 'nothing matches this')
    expect(cache.size).toBe(2)
    await loading
    cache.invalidateWhere((value) => value === 'row v1')
    expect(cache.size).toBe(0)
    expect(loads).toEqual(['a', 'b', 'c'])
  })

  describe('a busy entry is queried again before it lapses', () => {
    /** Each load waits until the test answers it, so a test can look while one is under way. */
    const gatedSetup = () => {
      const clock = manualClock(new Date(1_000_000))
      const pending: { key: string; answer: (value: string) => void; fail: () => void }[] = []
      const cache = createLookupCache<string>({
        ttlMs: LOOKUP_TTL_MS,
        maxEntries: 10,
        clock,
        load: (key) => new Promise((resolve, reject) => pending.push({ key, answer: resolve, fail: () => reject(new Error('database down')) })),
      })
      const now = () => clock.now().getTime()
      const loaded = async (value: string) => {
        const first = cache.get('a')
        pending.shift()!.answer(value)
        expect(await first).toBe(value)
      }
      return { cache, pending, now, advance: (ms: number) => clock.advance(ms), loaded }
    }
    const QUARTER = LOOKUP_TTL_MS / 4

    test('in its last quarter a peek starts the next query, keeps answering meanwhile, then takes the new answer, whose life counts from its query', async () => {
      const { cache, pending, now, advance, loaded } = gatedSetup()
      await loaded('row v1')
      advance(LOOKUP_TTL_MS - QUARTER - 1)
      expect(cache.peek('a', now())).toBe('row v1')
      expect(pending).toHaveLength(0)
      advance(1)
      expect(cache.peek('a', now())).toBe('row v1')
      expect(pending.map((load) => load.key)).toEqual(['a'])
      const refreshStarted = now()
      advance(QUARTER - 1)
      expect(cache.peek('a', now())).toBe('row v1')
      expect(pending).toHaveLength(1)
      pending.shift()!.answer('row v2')
      await Bun.sleep(0)
      expect(cache.peek('a', now())).toBe('row v2')
      // The renewed answer lives LOOKUP_TTL_MS from when its query started, not from when it came.
      advance(refreshStarted + LOOKUP_TTL_MS - 1 - now())
      expect(cache.peek('a', now())).toBe('row v2')
      advance(1)
      expect(cache.peek('a', now())).toBeUndefined()
    })

    test('an invalidation while that query runs drops its answer; a failed one changes nothing', async () => {
      const { cache, pending, now, advance, loaded } = gatedSetup()
      await loaded('row v1')
      advance(LOOKUP_TTL_MS - QUARTER)
      expect(cache.peek('a', now())).toBe('row v1')
      cache.invalidate('a')
      pending.shift()!.answer('row v1, read before the change')
      await Bun.sleep(0)
      expect(cache.peek('a', now())).toBeUndefined()

      await loaded('row v2')
      advance(LOOKUP_TTL_MS - QUARTER)
      expect(cache.peek('a', now())).toBe('row v2')
      pending.shift()!.fail()
      await Bun.sleep(0)
      expect(cache.peek('a', now())).toBe('row v2')
      expect(pending).toHaveLength(0)
      advance(QUARTER)
      expect(cache.peek('a', now())).toBeUndefined()
    })
  })

  test('it stays bounded', async () => {
    const { cache } = setup()
    for (let i = 0; i < 50; i++) await cache.get(`k${i}`)
    expect(cache.size).toBeLessThanOrEqual(10)
  })
})

describe('hot bytes cache', () => {
  test('keeps small objects up to its budget, least recently used out first', async () => {
    const cache = createBytesCache({ maxEntryBytes: 100, maxTotalBytes: 250 })
    const read = (size: number) => async () => new Uint8Array(size)
    expect(cache.accepts(101)).toBe(false)
    await cache.load('a', read(100))
    await cache.load('b', read(100))
    cache.peek('a') // a is now the most recently used
    await cache.load('c', read(100))
    expect(cache.peek('b')).toBeUndefined()
    expect(cache.peek('a')?.byteLength).toBe(100)
    expect(cache.peek('c')?.byteLength).toBe(100)
    expect(cache.totalBytes).toBe(200)
  })

  test('one read per key however many ask at once; a missing object is not cached', async () => {
    const cache = createBytesCache({ maxEntryBytes: 100, maxTotalBytes: 1000 })
    let reads = 0
    const all = await Promise.all(Array.from({ length: 20 }, () => cache.load('k', async () => (reads++, new Uint8Array(10)))))
    expect(reads).toBe(1)
    expect(all.every((b) => b?.byteLength === 10)).toBe(true)
    expect(await cache.load('gone', async () => null)).toBeNull()
    expect(cache.peek('gone')).toBeUndefined()
  })

  test('a zero budget turns it off', () => {
    expect(createBytesCache({ maxEntryBytes: 512 * 1024, maxTotalBytes: 0 }).accepts(1)).toBe(false)
  })
})
