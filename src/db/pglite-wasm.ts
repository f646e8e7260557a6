import { readFileSync } from 'node:fs'
import initdbWasmPath from '../../node_modules/@electric-sql/pglite/dist/initdb.wasm' with { type: 'file' }
import pgliteDataPath from '../../node_modules/@electric-sql/pglite/dist/pglite.data' with { type: 'file' }
import pgliteWasmPath from '../../node_modules/@electric-sql/pglite/dist/pglite.wasm' with { type: 'file' }

/**
 * PGlite's files, handed to it by the server instead of found by PGlite next to its own module:
 * in the single binary they are embedded (the imports above make them part of the executable),
 * and under `bun` handing them over lets the server start the compilation early. This module
 * has no side effect, so src/main.ts can load it before anything else.
 */
export { pgliteWasmPath }

/**
 * PGlite's PostgreSQL compiled to a WebAssembly module. The engine compiles it on a helper thread
 * (about 0.3 s of CPU for its 9 MB), so the server starts this before it loads the rest of its
 * code, and the two run side by side.
 */
export async function compilePgliteWasm(): Promise<WebAssembly.Module> {
  const module = await WebAssembly.compile(pgliteWasmBytes())
  performance.mark(START_MARK.wasmCompiled)
  return module
}

/**
 * Taken synchronously: an awaited read resumes only once the main thread is free, which at start
 * is after the server's code has loaded (about 0.25 s later), and the compile would start then.
 * Mapped rather than read where it can be: reading the 9 MB costs this thread about 27 ms before
 * the compile can start, and the compile takes its own copy of the bytes at once, so the mapping
 * is not kept. The single binary's embedded copy cannot be mapped, nor can a file this process may
 * not write (Bun.mmap opens it read-write): those are read.
 */
function pgliteWasmBytes(): Uint8Array {
  try {
    return Bun.mmap(pgliteWasmPath, { shared: false })
  } catch {
    return readFileSync(pgliteWasmPath)
  }
}

/**
 * performance.mark names of the embedded database's start-up phases; the server's `started` log
 * line reports them beside its own (scripts/bench-start.ts prints them). A mark is taken when the
 * main thread gets to it, so it can lag the work it names.
 */
export const START_MARK = { wasmCompiled: 'imghost:wasm_compiled', embeddedStarted: 'imghost:embedded_started' } as const

/**
 * Options for `PGlite.create`: the compiled module (the one given, or compiled now) and the file
 * system bundle, which PGlite cannot find by itself in the binary. initdb's module is compiled
 * only when a database is to be made from nothing: with a snapshot, or an existing data
 * directory, it is never run.
 */
export async function embeddedPgliteOptions({ initdb, pgliteWasm }: { initdb: boolean; pgliteWasm?: Promise<WebAssembly.Module> }): Promise<{
  pgliteWasmModule: WebAssembly.Module
  initdbWasmModule?: WebAssembly.Module
  fsBundle: Blob
}> {
  const [pgliteWasmModule, initdbWasmModule] = await Promise.all([
    pgliteWasm ?? compilePgliteWasm(),
    initdb ? WebAssembly.compile(await Bun.file(initdbWasmPath).arrayBuffer()) : undefined,
  ])
  return { pgliteWasmModule, ...(initdbWasmModule ? { initdbWasmModule } : {}), fsBundle: Bun.file(pgliteDataPath) }
}

