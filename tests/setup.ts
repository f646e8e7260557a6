// Preloaded by bunfig.toml before the test files. (Per-file timeouts: useSlowTestTimeout in tests/helpers/context.ts.)
process.env.TZ = 'UTC'
