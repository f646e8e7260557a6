import { describe, expect, test } from 'bun:test'
import { ConfigError, parseConfig, parseDurationSeconds } from '#core/config.ts'
import { join } from 'node:path'

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

/** The one line an operator would read for this environment. */
const refusal = (env: Record<string, string>): string => {
  try {
    parseConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.message
    throw error
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`)
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
      variables: { bucket: 'B2_BUCKET_NAME', endpoint: 'B2_S3_ENDPOINT', region: 'S3_REGION', accessKeyId: 'B2_APPLICATION_KEY_ID', secretAccessKey: 'B2_APPLICATION_KEY' },
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

/** Every duration variable and the range its refusal states. */
const DURATION_RANGES = {
  SHUTDOWN_TIMEOUT: '1s to 1h',
  BODY_TIMEOUT: '1s to 1h',
  JWT_EXPIRES_IN: '1s to 90d',
  DELETION_GRACE_PERIOD: '1s to 365d',
  LOGIN_FAILURE_WINDOW: '1s to 1d',
  WEBHOOK_TIMEOUT: '1s to 10m',
  WEBHOOK_RETRY_WINDOW: '1s to 30d',
}

// An outside test (2026-12-04) found each of these accepted at start, then failing later or
// publishing what it should not.
describe('config: values that started and failed later', () => {
  test('durations that become a Date or a timer have a maximum (JWT_EXPIRES_IN=999999d made every sign-in a 500)', () => {
    for (const huge of ['99999999999d', '999999d', '91d']) expectConfigError({ JWT_EXPIRES_IN: huge }, 'JWT_EXPIRES_IN')
    expect(refusal({ JWT_EXPIRES_IN: '999999d' })).toBe('JWT_EXPIRES_IN="999999d": must be a duration from 1s to 90d (a whole number followed by s, m, h or d)')
    expect(parseConfig({ JWT_EXPIRES_IN: '90d' }).jwtTtlSeconds).toBe(90 * 86400)
    expect(parseConfig({ JWT_EXPIRES_IN: '30d' }).jwtTtlSeconds).toBe(30 * 86400)
    // Each past its maximum, and past setTimeout's 2^31-1 ms (24.8 days) where it is a timer.
    const tooLong = {
      SHUTDOWN_TIMEOUT: '2h',
      BODY_TIMEOUT: '25d',
      DELETION_GRACE_PERIOD: '366d',
      LOGIN_FAILURE_WINDOW: '2d',
      WEBHOOK_TIMEOUT: '11m',
      WEBHOOK_RETRY_WINDOW: '31d',
    }
    for (const [variable, value] of Object.entries(tooLong)) expectConfigError({ [variable]: value }, variable)
    const longest = parseConfig({ SHUTDOWN_TIMEOUT: '1h', BODY_TIMEOUT: '60m', DELETION_GRACE_PERIOD: '365d', LOGIN_FAILURE_WINDOW: '24h', WEBHOOK_TIMEOUT: '600s', WEBHOOK_RETRY_WINDOW: '30d' })
    expect(longest).toMatchObject({ shutdownTimeoutSeconds: 3600, bodyTimeoutSeconds: 3600, deletionGracePeriodSeconds: 365 * 86400, loginFailureWindowSeconds: 86400 })
    expect(longest.webhooks).toMatchObject({ timeoutMs: 600_000, retryWindowSeconds: 30 * 86400 })
  })

  test('a refused duration states its range: 0s is written like one, and was refused as if it were not', () => {
    const rule = '(a whole number followed by s, m, h or d)'
    for (const [variable, range] of Object.entries(DURATION_RANGES)) {
      for (const value of ['0s', '0', '0d', 'soon']) expect(refusal({ [variable]: value })).toBe(`${variable}=${JSON.stringify(value)}: must be a duration from ${range} ${rule}`)
    }
    expect(parseConfig({ DELETION_GRACE_PERIOD: '1s' }).deletionGracePeriodSeconds).toBe(1)
  })

  // An outside test (2026-12-07) set DELETION_GRACE_PERIOD=7 and got 7 seconds, not 7 days:
  // accounts went at the next cleanup, with no grace period, and not a word at start.
  test('a duration without its unit is refused, not taken as seconds', () => {
    for (const [variable, range] of Object.entries(DURATION_RANGES)) {
      for (const bare of ['7', '30', ' 14 ']) {
        expect(refusal({ [variable]: bare })).toBe(`${variable}=${JSON.stringify(bare.trim())}: must be a duration from ${range} (a whole number followed by s, m, h or d)`)
      }
    }
    expect(parseDurationSeconds('45')).toBeUndefined()
    expect(parseDurationSeconds('45 s')).toBe(45)
  })

  test('URL variables refuse a query, a fragment or user:password, and do not echo a password', () => {
    const urlVariables = ['AUTH_SERVER_URL', 'UPLOAD_SERVER_URL', 'VIEW_SERVER_URL', 'FRONTEND_URL', 'CDN_BASE_URL', 'OIDC_ISSUER', 'CLOUDFLARE_API_BASE_URL']
    for (const variable of urlVariables) {
      for (const bad of ['https://img.example.com/?ref=x', 'https://img.example.com/#top', 'https://img.example.com?', 'http://u:p@img.example.com', 'http://u@img.example.com', 'http://@img.example.com']) {
        // CLOUDFLARE_API_BASE_URL is read only with a zone and a token.
        expectConfigError({ CLOUDFLARE_ZONE_ID: 'zone', CLOUDFLARE_API_TOKEN: 'token', [variable]: bad }, variable)
      }
    }
    expect(() => parseConfig({ CDN_BASE_URL: 'https://cdn.example.com/?v=1' })).toThrow('must have no query, fragment or user:password')
    expect(refusal({ VIEW_SERVER_URL: 'http://admin:hunter2hunter2@img.example.com' })).toBe('VIEW_SERVER_URL: must have no query, fragment or user:password')
    // A path is a base like any other; an @ after the host is part of the path.
    const config = parseConfig({ VIEW_SERVER_URL: 'https://img.example.com/pics/', CDN_BASE_URL: 'https://cdn.example.com/@imghost' })
    expect(config.publicUrls.view).toBe('https://img.example.com/pics')
    expect(config.cdnBaseUrl).toBe('https://cdn.example.com/@imghost')
  })

  test('PORT=0 is refused unless every enabled module names its public URL', () => {
    expectConfigError({ PORT: '0' }, 'PORT')
    // Every missing one at once, not one per attempt to start.
    const consequence = '(the public URLs would say http://localhost:0)'
    expect(refusal({ PORT: '0' })).toBe(`PORT="0": must not be 0 unless AUTH_SERVER_URL, UPLOAD_SERVER_URL and VIEW_SERVER_URL are set ${consequence}`)
    expect(refusal({ PORT: '0', UPLOAD_SERVER_URL: 'https://u.example' })).toBe(`PORT="0": must not be 0 unless AUTH_SERVER_URL and VIEW_SERVER_URL are set ${consequence}`)
    expect(refusal({ PORT: '0', SERVER_MODE: 'auth,view', VIEW_SERVER_URL: 'https://v.example' })).toBe(`PORT="0": must not be 0 unless AUTH_SERVER_URL is set ${consequence}`)
    expect(() => parseConfig({ PORT: '0', AUTH_SERVER_URL: 'https://a.example', UPLOAD_SERVER_URL: 'https://u.example' })).toThrow('VIEW_SERVER_URL')
    expect(parseConfig({ PORT: '0', SERVER_MODE: 'view', VIEW_SERVER_URL: 'https://img.example.com' }).singlePort).toBe(0)
    const all = { AUTH_SERVER_URL: 'https://img.example.com', UPLOAD_SERVER_URL: 'https://img.example.com', VIEW_SERVER_URL: 'https://img.example.com' }
    expect(parseConfig({ PORT: '0', ...all }).publicUrls.view).toBe('https://img.example.com')
  })

  test('METRICS_TOKEN and CRON_SECRET_TOKEN need 16 characters and 8 different ones', () => {
    for (const variable of ['METRICS_TOKEN', 'CRON_SECRET_TOKEN']) {
      expectConfigError({ [variable]: 'a' }, variable)
      expectConfigError({ [variable]: '0123456789abcde' }, variable)
      expectConfigError({ [variable]: 'a'.repeat(40) }, variable)
      expect(() => parseConfig({ [variable]: 'a' })).toThrow(`${variable}: must be at least 16 characters`)
    }
    expect(parseConfig({ METRICS_TOKEN: '0123456789abcdef', CRON_SECRET_TOKEN: 'cron-test-token-0123456789abcdef' })).toMatchObject({
      metricsToken: '0123456789abcdef',
      cronSecretToken: 'cron-test-token-0123456789abcdef',
    })
  })

  test('JWT_SECRET refuses a blank secret or one of few distinct characters, without echoing it', () => {
    expectConfigError({ JWT_SECRET: ' '.repeat(34) }, 'JWT_SECRET')
    expectConfigError({ JWT_SECRET: 'x'.repeat(34) }, 'JWT_SECRET')
    expectConfigError({ JWT_SECRET: 'abababababababababababababababababab' }, 'JWT_SECRET')
    expect(refusal({ JWT_SECRET: 'x'.repeat(34) })).toStartWith('JWT_SECRET: must have at least 8 different characters')
    expect(refusal({ JWT_SECRET: ' '.repeat(34) })).toStartWith('JWT_SECRET: must not be blank')
    expect(parseConfig({ JWT_SECRET: 'test-secret-test-secret-test-secret-0123' }).jwtSecret).toBe('test-secret-test-secret-test-secret-0123')
    // Empty is unset, as for every variable: a secret is generated in DATA_DIR.
    expect(parseConfig({ JWT_SECRET: '' }).jwtSecret).toBeUndefined()
  })

  test("deploy/.env.example's placeholder secrets are refused, each naming its variable, so a forgotten line does not run on a published secret", async () => {
    const example = await Bun.file(join(import.meta.dir, '../../deploy/.env.example')).text()
    const placeholders = Object.fromEntries(
      [...example.matchAll(/^(JWT_SECRET|METRICS_TOKEN|CRON_SECRET_TOKEN)=(.+)$/gm)].map(([, name, value]) => [name!, value!.trim()]),
    )
    expect(Object.keys(placeholders).sort()).toEqual(['CRON_SECRET_TOKEN', 'JWT_SECRET', 'METRICS_TOKEN'])
    for (const [name, value] of Object.entries(placeholders)) {
      expect(refusal({ [name]: value }), name).toStartWith(`${name}: is the placeholder of deploy/.env.example`)
    }
    expect(refusal({ JWT_SECRET: 'test-secret-test-secret-test-secret-0123', JWT_SECRET_PREVIOUS: 'CHANGE_ME-previous-secret-0123456789abc' })).toStartWith('JWT_SECRET_PREVIOUS: is the placeholder')
  })

  test('JWT_SECRET_PREVIOUS is checked as a secret and may not be JWT_SECRET itself', () => {
    const secret = 'test-secret-test-secret-test-secret-0123'
    expectConfigError({ JWT_SECRET: secret, JWT_SECRET_PREVIOUS: 'short' }, 'JWT_SECRET_PREVIOUS')
    expectConfigError({ JWT_SECRET: secret, JWT_SECRET_PREVIOUS: secret }, 'JWT_SECRET_PREVIOUS')
    expect(refusal({ JWT_SECRET: secret, JWT_SECRET_PREVIOUS: secret })).not.toContain(secret)
    const previous = 'older-secret-older-secret-older-secret-99'
    expect(parseConfig({ JWT_SECRET: secret, JWT_SECRET_PREVIOUS: previous })).toMatchObject({ jwtSecret: secret, jwtSecretPrevious: previous })
    expect(parseConfig({ JWT_SECRET: secret }).jwtSecretPrevious).toBeUndefined()
  })

  test('a partial or doubled S3/B2 configuration is refused, naming the missing or extra variable', () => {
    expectConfigError({ S3_ACCESS_KEY_ID: 'kid', S3_SECRET_ACCESS_KEY: 'secret' }, 'S3_BUCKET')
    expectConfigError({ S3_ENDPOINT: 'https://s3.example.com' }, 'S3_BUCKET')
    expectConfigError({ S3_REGION: 'eu-central-1' }, 'S3_BUCKET')
    expectConfigError({ B2_S3_ENDPOINT: 'https://s3.us-west-004.backblazeb2.com' }, 'B2_BUCKET_NAME')
    expectConfigError({ B2_APPLICATION_KEY_ID: 'kid', B2_APPLICATION_KEY: 'secret' }, 'B2_BUCKET_NAME')
    expectConfigError({ B2_BUCKET_NAME: 'pics', B2_APPLICATION_KEY_ID: 'kid', B2_APPLICATION_KEY: 'secret' }, 'B2_S3_ENDPOINT')
    expectConfigError({ S3_BUCKET: 'a', B2_BUCKET_NAME: 'b' }, 'B2_BUCKET_NAME')
    expectConfigError({ S3_BUCKET: 'b', S3_ENDPOINT: 'https://s3.example.com', B2_S3_ENDPOINT: 'https://s3.us-west-004.backblazeb2.com' }, 'B2_S3_ENDPOINT')
    expectConfigError({ S3_BUCKET: 'b', S3_SECRET_ACCESS_KEY: 'only-secret' }, 'S3_ACCESS_KEY_ID')
    expectConfigError({ B2_BUCKET_NAME: 'b', B2_S3_ENDPOINT: 'https://s3.us-west-004.backblazeb2.com', B2_APPLICATION_KEY_ID: 'only-id' }, 'B2_APPLICATION_KEY')
    expect(parseConfig({ S3_BUCKET: 'b' }).storage).toMatchObject({ driver: 's3', bucket: 'b' })
    // The spec's B2 block names the bucket by id, which B2's S3-compatible API does not take: alone it stored images locally.
    const spec = { B2_APPLICATION_KEY_ID: 'kid', B2_APPLICATION_KEY: 'secret', B2_BUCKET_ID: '4a48fe8875c6214145260818' }
    for (const env of [{ B2_BUCKET_ID: spec.B2_BUCKET_ID }, spec]) {
      expect(() => parseConfig(env)).toThrow('B2_BUCKET_NAME: must be set when B2_BUCKET_ID is: imghost reaches B2 through its S3-compatible API')
    }
    const named = parseConfig({ ...spec, B2_BUCKET_NAME: 'pics', B2_S3_ENDPOINT: 'https://s3.us-west-004.backblazeb2.com' })
    expect(named.storage).toMatchObject({ driver: 's3', bucket: 'pics', region: 'us-west-004' })
  })

  test('VIEW_CACHE_MAX_OBJECT_BYTES larger than VIEW_CACHE_BYTES is refused', () => {
    expectConfigError({ VIEW_CACHE_BYTES: '1000', VIEW_CACHE_MAX_OBJECT_BYTES: '2000' }, 'VIEW_CACHE_MAX_OBJECT_BYTES')
    expect(parseConfig({ VIEW_CACHE_BYTES: '2000', VIEW_CACHE_MAX_OBJECT_BYTES: '2000' }).viewCache).toMatchObject({ totalBytes: 2000, maxObjectBytes: 2000 })
    // 0 turns the memory cache off; a smaller cache with the default largest object still starts.
    expect(parseConfig({ VIEW_CACHE_BYTES: '0', VIEW_CACHE_MAX_OBJECT_BYTES: '2000' }).viewCache.totalBytes).toBe(0)
    expect(parseConfig({ VIEW_CACHE_BYTES: '1000' }).viewCache.totalBytes).toBe(1000)
  })

  test('TRUST_PROXY is false, true (one proxy) or how many proxies stand in front', () => {
    expect(parseConfig({}).trustedProxies).toBe(0)
    for (const [value, proxies] of [['false', 0], ['0', 0], ['true', 1], ['TRUE', 1], ['1', 1], ['2', 2], ['10', 10]] as const) {
      expect(parseConfig({ TRUST_PROXY: value }).trustedProxies).toBe(proxies)
    }
    for (const value of ['11', '-1', '1.5', 'maybe']) {
      expect(() => parseConfig({ TRUST_PROXY: value })).toThrow(`TRUST_PROXY="${value}": must be false, true (one proxy in front) or the number of proxies in front, 1 to 10`)
    }
  })

  test('SERVER_MODE refuses an empty item', () => {
    for (const mode of ['auth,,view', 'auth,', ',', ' , view']) expectConfigError({ SERVER_MODE: mode }, 'SERVER_MODE')
    expect(parseConfig({ SERVER_MODE: ' auth , view ' }).modules).toEqual(['auth', 'view'])
  })

  test('SMTP_FROM must be an address or Name <address>', () => {
    for (const from of ['notanemail', 'imghost', 'imghost <no-reply>', 'a@b <c@d', 'no-reply@example.com>']) expectConfigError({ SMTP_FROM: from }, 'SMTP_FROM')
    expect(parseConfig({ SMTP_FROM: 'no-reply@example.com' }).mailFrom).toBe('no-reply@example.com')
    expect(parseConfig({ SMTP_FROM: 'imghost test <noreply@imghost.test>' }).mailFrom).toBe('imghost test <noreply@imghost.test>')
    expect(parseConfig({ SMTP_FROM: '"Doe, Jane" <jane@example.com>' }).mailFrom).toBe('"Doe, Jane" <jane@example.com>')
    expect(parseConfig({}).mailFrom).toBe('imghost <no-reply@localhost>')
  })

  test('METRICS_PORT equal to a port this process listens on is refused at parse time', () => {
    expectConfigError({ METRICS_PORT: '5001' }, 'METRICS_PORT')
    expect(() => parseConfig({ METRICS_PORT: '7003', VIEW_PORT: '7003' })).toThrow('METRICS_PORT="7003": must differ from VIEW_PORT')
    expect(() => parseConfig({ METRICS_PORT: '8080', PORT: '8080' })).toThrow('METRICS_PORT="8080": must differ from PORT')
    // A module this process does not run, or PORT replacing the module ports, leaves the port free.
    expect(parseConfig({ METRICS_PORT: '5003', SERVER_MODE: 'auth' }).metricsPort).toBe(5003)
    expect(parseConfig({ METRICS_PORT: '5001', PORT: '8080' }).metricsPort).toBe(5001)
    expect(parseConfig({ METRICS_PORT: '0', AUTH_PORT: '0', UPLOAD_PORT: '0', VIEW_PORT: '0' }).metricsPort).toBe(0)
  })
  test('settings of a feature that is off are checked all the same (a typo is found before the feature is turned on)', () => {
    expectConfigError({ SMTP_SECURE: 'maybe' }, 'SMTP_SECURE')
    expectConfigError({ CLOUDFLARE_API_BASE_URL: 'ftp://x' }, 'CLOUDFLARE_API_BASE_URL')
    expectConfigError({ CLOUDFLARE_API_BASE_URL: 'not a url' }, 'CLOUDFLARE_API_BASE_URL')
    expectConfigError({ SMTP_PORT: 'abc' }, 'SMTP_PORT')
    expect(parseConfig({ CLOUDFLARE_API_BASE_URL: 'https://cf.example/v4' }).cloudflare).toBeUndefined()
    expect(parseConfig({ SMTP_HOST: 'mail.example', SMTP_SECURE: 'true' }).smtp?.secure).toBe(true)
  })

  test('SMTP settings without SMTP_HOST are refused, naming it, as S3 settings without a bucket are: mail would be written to files, not sent', () => {
    for (const variable of ['SMTP_USER', 'SMTP_PASS', 'SMTP_PORT', 'SMTP_SECURE']) {
      const value = variable === 'SMTP_PORT' ? '465' : variable === 'SMTP_SECURE' ? 'true' : 'x'
      expectConfigError({ [variable]: value }, 'SMTP_HOST')
      expect(() => parseConfig({ [variable]: value })).toThrow(`SMTP_HOST: must be set when ${variable} is (without it, mail is not sent but written to DATA_DIR/mail)`)
    }
    // A misspelt SMTP_HOST leaves the others without it.
    expect(() => parseConfig({ SMTP_SERVER: 'smtp.example.com', SMTP_USER: 'imghost', SMTP_PASS: 'secret-pass' })).toThrow('SMTP_HOST: must be set when SMTP_USER is')
    // The secret is not repeated.
    expect(() => parseConfig({ SMTP_PASS: 'secret-pass' })).not.toThrow('secret-pass')
    // SMTP_FROM is not an SMTP-only setting: the .eml files written without SMTP carry it too.
    expect(parseConfig({ SMTP_FROM: 'imghost <no-reply@example.com>' })).toMatchObject({ smtp: undefined, mailFrom: 'imghost <no-reply@example.com>' })
    // A password without its user was dropped without a word.
    expectConfigError({ SMTP_HOST: 'smtp.example.com', SMTP_PASS: 'secret-pass' }, 'SMTP_USER')
    expect(parseConfig({ SMTP_HOST: 'smtp.example.com', SMTP_USER: 'imghost', SMTP_PASS: 'secret-pass' }).smtp).toEqual({ host: 'smtp.example.com', port: 587, user: 'imghost', pass: 'secret-pass', secure: false })
  })

  test('SMTP_HOST must be a host name or an IP address', () => {
    for (const host of ['bad host', 'smtp://smtp.example.com', 'smtp.example.com:587', 'smtp..example.com', '-smtp.example.com', 'smtp.example.com/x', 'a'.repeat(64) + '.example.com']) {
      expectConfigError({ SMTP_HOST: host }, 'SMTP_HOST')
    }
    expect(() => parseConfig({ SMTP_HOST: 'bad host' })).toThrow('SMTP_HOST="bad host": must be a host name or an IP address')
    for (const host of ['smtp.example.com', 'localhost', 'mail', 'mail_relay', 'SMTP.Example.COM.', '127.0.0.1', '::1', 'fd00::25', 'xn--bcher-kva.example']) {
      expect(parseConfig({ SMTP_HOST: host }).smtp?.host).toBe(host)
    }
  })

  test('CLOUDFLARE_ZONE_ID and CLOUDFLARE_API_TOKEN come together: one alone left purging off without a word', () => {
    expectConfigError({ CLOUDFLARE_ZONE_ID: 'zone' }, 'CLOUDFLARE_API_TOKEN')
    expectConfigError({ CLOUDFLARE_API_TOKEN: 'token' }, 'CLOUDFLARE_ZONE_ID')
    expect(parseConfig({ CLOUDFLARE_ZONE_ID: 'zone', CLOUDFLARE_API_TOKEN: 'token' }).cloudflare?.zoneId).toBe('zone')
  })
})
