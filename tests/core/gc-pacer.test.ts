import { describe, expect, test } from 'bun:test'
import { createGcPacer } from '#core/gc-pacer.ts'

// Issue 12 §1, §3: young objects collected at a steady pace while the process allocates.
describe('the GC pacer', () => {
  test('collects once the heap grew by the budget since the last collection, and not before', () => {
    let size = 100
    const collected: number[] = []
    const pacer = createGcPacer({ budgetBytes: 10, heapSize: () => size, collect: () => (collected.push(size), (size = 95)) })
    size = 109
    expect(pacer.tick()).toBe(false)
    size = 110
    expect(pacer.tick()).toBe(true)
    expect(collected).toEqual([110])
    // Counted from what the collection left (95), not from where it started (100).
    size = 104
    expect(pacer.tick()).toBe(false)
    size = 105
    expect(pacer.tick()).toBe(true)
    expect(collected).toEqual([110, 105])
  })

  test('an idle process is left alone, and a collection by the engine itself restarts the count', () => {
    let size = 1000
    let collections = 0
    const pacer = createGcPacer({ budgetBytes: 10, heapSize: () => size, collect: () => void collections++ })
    for (let i = 0; i < 5; i++) expect(pacer.tick()).toBe(false)
    // The engine collected on its own: 1000 → 900; growth counts from 900.
    size = 900
    expect(pacer.tick()).toBe(false)
    size = 909
    expect(pacer.tick()).toBe(false)
    size = 910
    expect(pacer.tick()).toBe(true)
    expect(collections).toBe(1)
  })

  test("the engine's own heap size and eden collection are what it uses by default", () => {
    // A full collection first: after other test files the heap holds garbage, and the engine
    // collecting it on its own meanwhile would shrink the heap faster than this test grows it.
    Bun.gc(true)
    const pacer = createGcPacer({ budgetBytes: 1 << 20 })
    // Kept alive: the engine counts a block's objects once they are in use. A collection the
    // engine starts by itself meanwhile (likely in a full suite's big heap) only restarts the
    // count, so allocate in steps until the pacer sees a megabyte of growth.
    const kept: unknown[] = []
    let collected = false
    for (let step = 0; step < 40 && !collected; step++) {
      for (let i = 0; i < 50_000; i++) kept.push({ i, s: `s${step}:${i}` })
      collected = pacer.tick()
    }
    expect(collected).toBe(true)
    expect(pacer.tick()).toBe(false)
    expect(kept.length).toBeGreaterThan(0)
  })
})
