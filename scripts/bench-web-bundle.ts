/**
 * The web app's first-page weight: bundles the app as the server does (modules/web/bundle.ts),
 * then sums the gzipped size of what the HTML loads up front: its stylesheets and scripts, and
 * every chunk those scripts import statically. Chunks loaded on demand (the chart library) are
 * listed apart. Target: initial JS + CSS ≤ 150 KB gzipped.
 *
 *   bun scripts/bench-web-bundle.ts
 */
import { gzipSync } from 'bun'
import page from '../modules/web/app/index.html'
import { ASSET_PREFIX, loadWebBundle } from '../modules/web/bundle.ts'

const TARGET_BYTES = 150 * 1024
const started = performance.now()
const bundle = await loadWebBundle(page)
const buildMs = performance.now() - started

const sizes = new Map<string, { raw: number; gzip: number; text: string }>()
for (const [name, asset] of bundle.assets) {
  const bytes = new Uint8Array(await asset.body.arrayBuffer())
  sizes.set(name, { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length, text: name.endsWith('.js') ? new TextDecoder().decode(bytes) : '' })
}
const nameOf = (url: string) => url.replace(ASSET_PREFIX, '').replace(/^\.\//, '')

// What the HTML names, then what those scripts import statically (import(...) is on demand).
const initial = new Set([...bundle.html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => nameOf(m[1]!)))
const queue = [...initial]
while (queue.length) {
  const text = sizes.get(queue.pop()!)?.text ?? ''
  for (const m of text.matchAll(/(?:import|export)\s*(?:[\w${}*,\s]+from\s*)?["']([^"']+\.js)["']/g)) {
    const name = nameOf(m[1]!)
    if (!initial.has(name)) initial.add(name), queue.push(name)
  }
}

let total = 0
console.log(`bundled in ${buildMs.toFixed(0)} ms\n`)
console.log('file'.padEnd(36), 'raw'.padStart(9), 'gzip'.padStart(9), ' loaded')
for (const [name, size] of sizes) {
  const first = initial.has(name)
  if (first) total += size.gzip
  console.log(name.padEnd(36), `${(size.raw / 1024).toFixed(1)} KB`.padStart(9), `${(size.gzip / 1024).toFixed(1)} KB`.padStart(9), first ? ' first page' : ' on demand')
}
console.log(`\ninitial JS + CSS, gzipped: ${(total / 1024).toFixed(1)} KB (target ≤ ${TARGET_BYTES / 1024} KB) ${total <= TARGET_BYTES ? 'OK' : 'OVER'}`)
process.exit(total <= TARGET_BYTES ? 0 : 1)
