import { describe, expect, test } from 'bun:test'
import { ConfigError, parseConfig, parseDurationSeconds } from '#core/config.ts'

const expectConfigError = (env: Record<string, string>, variable: string) => {
  try {
    parseConfig(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).variable).toBe(variable)
    expect((error as Error).message.split('\n')).toHaveLength(1)
    expect((error as Error).message).toStartWith(variable)
    return
  }
  throw new Error(`expected ${variable} to be refused`)
}

describe('config', () => {
  test('defaults: all modules, seed ports, local storage under DATA_DIR', () => {
    const config = parseConfig({ DATA_DIR: '/tmp/x' })
    expect(config.modules).toEqual(['auth', 'upload', 'view'])
    expect(config.ports).toEqual({ auth: 5001, upload: 5002, view: 5003 })
    expect(config.publicUrls.view).toBe('http://localhost:5003')
    expect(config.storage).toEqual({ driver: 'local', rootDir: '/tmp/x/objects' })
    expect(config.maxUploadBytes).toBe(20 * 1024 * 1024)
    expect(config.deletionGracePeriodSeconds).toBe(7 * 86400)
    expect(Object.isFrozen(config)).toBe(true)
  })

  test('SERVER_MODE takes one module or a comma list', () => {
    expect(parseConfig({ SERVER_MODE: 'view' }).modules).toEqual(['view'])
    expect(parseConfig({ SERVER_MODE: 'view, auth' }).modules).toEqual(['auth', 'view'])
    expectConfigError({ SERVER_MODE: 'viewer' }, 'SERVER_MODE')
  })

  test('bad values name their variable', () => {
    expectConfigError({ AUTH_PORT: 'abc' }, 'AUTH_PORT')
    expectConfigError({ UPLOAD_PORT: '70000' }, 'UPLOAD_PORT')
    expectConfigError({ JWT_SECRET: 'short' }, 'JWT_SECRET')
    expectConfigError({ MAX_UPLOAD_BYTES: '-1' }, 'MAX_UPLOAD_BYTES')
    expectConfigError({ DELETION_GRACE_PERIOD: '7 weeks' }, 'DELETION_GRACE_PERIOD')
    expectConfigError({ VIEW_SERVER_URL: 'ftp://x' }, 'VIEW_SERVER_URL')
    expectConfigError({ STORE_VIEWER_IP: 'maybe' }, 'STORE_VIEWER_IP')
    expectConfigError({ S3_BUCKET: 'b', S3_ACCESS_KEY_ID: 'only-id' }, 'S3_SECRET_ACCESS_KEY')
    expectConfigError({ GOOGLE_CLIENT_ID: 'id' }, 'GOOGLE_CLIENT_SECRET')
  })

  test('REGISTRATION_VERIFY_FIRST is off unless set, and must be a boolean', () => {
    expect(parseConfig({}).registrationVerifyFirst).toBe(false)
    expect(parseConfig({ REGISTRATION_VERIFY_FIRST: 'true' }).registrationVerifyFirst).toBe(true)
    expectConfigError({ REGISTRATION_VERIFY_FIRST: 'sometimes' }, 'REGISTRATION_VERIFY_FIRST')
  })

  test('durations accept s, m, h, d', () => {
    expect(parseDurationSeconds('45s')).toBe(45)
    expect(parseDurationSeconds('30m')).toBe(1800)
    expect(parseDurationSeconds('12h')).toBe(43200)
    expect(parseDurationSeconds('7d')).toBe(604800)
    expect(parseDurationSeconds('0d')).toBeUndefined()
    expect(parseConfig({ DELETION_GRACE_PERIOD: '90m' }).deletionGracePeriodSeconds).toBe(5400)
  })

  test('the B2_* variables configure S3-compatible storage', () => {
    const config = parseConfig({
      B2_APPLICATION_KEY_ID: 'kid',
      B2_APPLICATION_KEY: 'secret',
      B2_BUCKET_NAME: 'pics',
      B2_S3_ENDPOINT: 'https://s3.us-west-004.backblazeb2.com',
    })
    expect(config.storage).toEqual({
      driver: 's3',
      bucket: 'pics',
      endpoint: 'https://s3.us-west-004.backblazeb2.com',
      region: 'us-west-004',
      accessKeyId: 'kid',
      secretAccessKey: 'secret',
      forcePathStyle: true,
    })
    const s3 = parseConfig({ S3_BUCKET: 'b', S3_REGION: 'eu-central-1', S3_FORCE_PATH_STYLE: 'false' })
    expect(s3.storage).toMatchObject({ driver: 's3', bucket: 'b', region: 'eu-central-1', forcePathStyle: false })
  })

  test('fault limits: database connect timeout, storage timeout and attempts, disk margin', () => {
    const defaults = parseConfig({})
    expect(defaults).toMatchObject({ databaseConnectTimeoutMs: 1500, storageTimeoutMs: 10_000, storageMaxAttempts: 2, minFreeDiskBytes: 64 * 1024 * 1024 })
    const set = parseConfig({ DATABASE_CONNECT_TIMEOUT_MS: '500', STORAGE_TIMEOUT_MS: '250', STORAGE_MAX_ATTEMPTS: '1', MIN_FREE_DISK_BYTES: '0' })
    expect(set).toMatchObject({ databaseConnectTimeoutMs: 500, storageTimeoutMs: 250, storageMaxAttempts: 1, minFreeDiskBytes: 0 })
    expect(() => parseConfig({ STORAGE_MAX_ATTEMPTS: '0' })).toThrow(ConfigError)
    expect(() => parseConfig({ STORAGE_TIMEOUT_MS: '10' })).toThrow(/STORAGE_TIMEOUT_MS/)
    expect(() => parseConfig({ MIN_FREE_DISK_BYTES: '-1' })).toThrow(/MIN_FREE_DISK_BYTES/)
  })
})

describe('config: hardening settings', () => {
  test('defaults, and each refuses what it cannot be', () => {
    const config = parseConfig({})
    expect(config).toMatchObject({ shutdownTimeoutSeconds: 25, maxInflightRequests: 1024, bodyTimeoutSeconds: 20 })
    expect(config.singlePort).toBeUndefined()
    expect(config.metricsPort).toBeUndefined()
    expect(parseConfig({ SHUTDOWN_TIMEOUT: '3s', BODY_TIMEOUT: '1m', MAX_INFLIGHT_REQUESTS: '10', PORT: '8080', METRICS_PORT: '9464' })).toMatchObject({
      shutdownTimeoutSeconds: 3,
      bodyTimeoutSeconds: 60,
      maxInflightRequests: 10,
      singlePort: 8080,
      metricsPort: 9464,
    })
    expectConfigError({ SHUTDOWN_TIMEOUT: 'soon' }, 'SHUTDOWN_TIMEOUT')
    expectConfigError({ BODY_TIMEOUT: '0' }, 'BODY_TIMEOUT')
    expectConfigError({ MAX_INFLIGHT_REQUESTS: '0' }, 'MAX_INFLIGHT_REQUESTS')
    expectConfigError({ PORT: '70000' }, 'PORT')
    expectConfigError({ METRICS_PORT: 'x' }, 'METRICS_PORT')
    expectConfigError({ AUTH_PORT: '7001', UPLOAD_PORT: '7001' }, 'UPLOAD_PORT')
  })
})

describe('PROCESSING_MEMORY_BUDGET_BYTES', () => {
  test('defaults to 384 MiB, takes bytes, refuses less than 16 MiB or non-integers', () => {
    expect(parseConfig({}).processingMemoryBudgetBytes).toBe(384 * 1024 * 1024)
    expect(parseConfig({ PROCESSING_MEMORY_BUDGET_BYTES: String(2 * 1024 ** 3) }).processingMemoryBudgetBytes).toBe(2 * 1024 ** 3)
    for (const bad of ['1000', '1.5e9x', 'lots']) expectConfigError({ PROCESSING_MEMORY_BUDGET_BYTES: bad }, 'PROCESSING_MEMORY_BUDGET_BYTES')
  })
})
