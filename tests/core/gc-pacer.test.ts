import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { createGcPacer } from '#core/gc-pacer.ts'

const GC_PACER_MODULE = join(import.meta.dir, '../../src/gc-pacer.ts')

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

  test("the engine's own heap size and eden collection are what it uses by default", async () => {
    // In a process of its own: in a full suite's heap (hundreds of MB, other files' databases
    // being finalised) the heap can shrink faster than a test grows it, whatever the test does.
    const script = `
      import { createGcPacer } from ${JSON.stringify(GC_PACER_MODULE)}
      const pacer = createGcPacer({ budgetBytes: 1 << 20 })
      // Kept alive: the engine counts a block's objects once they are in use. A collection the
      // engine starts by itself meanwhile only restarts the count, so grow in steps.
      const kept = []
      let collected = false
      for (let step = 0; step < 40 && !collected; step++) {
        for (let i = 0; i < 50_000; i++) kept.push({ i, s: 's' + step + ':' + i })
        collected = pacer.tick()
      }
      console.log(JSON.stringify({ collected, again: pacer.tick(), kept: kept.length }))
    `
    const child = Bun.spawn([process.execPath, '-e', script], { stdout: 'pipe', stderr: 'pipe' })
    const [output, errors, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
    expect(errors).toBe('')
    expect(code).toBe(0)
    const result = JSON.parse(output)
    expect(result.collected).toBe(true)
    expect(result.again).toBe(false)
    expect(result.kept).toBeGreaterThan(0)
  })
})
