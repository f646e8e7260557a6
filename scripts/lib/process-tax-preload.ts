/**
 * scripts/bench-process-tax.ts: a bare server on TAX_PORT answering `prebuilt.clone()` of
 * TAX_BYTES bytes, started before anything else in whichever process preloads it. TAX_LOAD
 * (comma-separated) adds one suspect at a time to a bare process: heap, pglite, sharp, signals,
 * uncaught, timers.
 */
export {}

const body = new Uint8Array(Number(process.env.TAX_BYTES ?? 600)).fill(120)
const prebuilt = new Response(body, { headers: { 'content-type': 'application/json' } })
const { heapStats } = await import('bun:jsc')
Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.TAX_PORT),
  routes: {
    // What the engine's heap holds, for the experiments (not measured).
    '/heap': () => {
      const { objectTypeCounts, protectedObjectTypeCounts: _, ...stats } = heapStats()
      const top = Object.entries(objectTypeCounts).sort((a, b) => b[1] - a[1]).slice(0, 25)
      return Response.json({ ...stats, memoryUsage: process.memoryUsage(), top })
    },
  },
  fetch: () => prebuilt.clone(),
})

const suspects = (process.env.TAX_LOAD ?? '').split(',').filter(Boolean)
const kept: unknown[] = []
for (const suspect of suspects) {
  if (suspect === 'heap') {
    // About 100 MB of small live objects.
    for (let i = 0; i < 1_000_000; i++) kept.push({ a: i, b: `s${i}`, c: [i] })
  } else if (suspect === 'pglite') {
    const { PGlite } = await import('@electric-sql/pglite')
    const db = await PGlite.create()
    await db.query('select 1')
    kept.push(db)
  } else if (suspect === 'sharp') {
    kept.push((await import('sharp')).default)
  } else if (suspect === 'signals') {
    process.on('SIGTERM', () => process.exit(0))
    process.on('SIGINT', () => process.exit(0))
  } else if (suspect === 'uncaught') {
    process.on('uncaughtException', (error) => { console.error(error); process.exit(1) })
  } else if (suspect === 'timers') {
    setInterval(() => kept.length, 1000)
    setInterval(() => kept.length, 20)
  } else if (suspect.startsWith('edengc')) {
    // edengc<ms>: an eden collection every <ms> milliseconds.
    const { edenGC } = await import('bun:jsc')
    setInterval(() => edenGC(), Number(suspect.slice(6)))
  } else if (suspect === 'watch') {
    // The engine's heap size every 100 ms, on stderr.
    const { heapSize } = await import('bun:jsc')
    setInterval(() => console.error(`heapSize ${heapSize()}`), 100)
  } else throw new Error(`unknown suspect ${suspect}`)
}
;(globalThis as { taxKept?: unknown }).taxKept = kept
