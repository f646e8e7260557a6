/**
 * How reluctant JavaScriptCore's JIT is while the server starts. Start-up runs a great deal of
 * code once (module bodies, route tables, schema compilers); compiling it is work the JIT threads
 * do beside PGlite's WebAssembly compile on a small machine's cores, for code that never runs
 * again. The thresholds are scaled up until the server listens, then set back to normal, so the
 * request path tiers up as usual. The single binary starts with the same scale baked in
 * (scripts/build.ts), which covers the code that runs before src/main.ts does; its one-off
 * commands (migrate, admin) keep it, being start-up code from end to end.
 *
 * 10: of the scales 4, 10 and 30, the one whose binary started soonest (README, Single binary).
 */
export const START_JIT_POLICY = 10

export function useStartJitPolicy(): void {
  Bun.unsafe.setJITPolicy(START_JIT_POLICY)
}

export function useNormalJitPolicy(): void {
  Bun.unsafe.setJITPolicy(1)
}
