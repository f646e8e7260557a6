import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import { type SigningKey, UnusableKeyFile, readSigningKey } from './auth/client-key.ts'
import type { StorageConfig } from './storage/index.ts'

/**
 * CHANGE_PROPAGATION_MS's default: a ping on the listening connection at most every 10 ms under
 * load, and 20 ms more for a request that may write, on PostgreSQL only.
 */
export const DEFAULT_CHANGE_PROPAGATION_MS = 20

/**
 * The whole environment, parsed once at start into one frozen object.
 * Nothing else in the code base reads process.env.
 */

export const MODULE_NAMES = ['auth', 'upload', 'view'] as const
export type ModuleName = (typeof MODULE_NAMES)[number]

export const PLANS = ['free', 'pro', 'enterprise'] as const

/** Who may create an account: anyone, holders of an admin's invite, or nobody (the first account always may). */
export const REGISTRATION_MODES = ['open', 'invite', 'closed'] as const
export type RegistrationMode = (typeof REGISTRATION_MODES)[number]
export type Plan = (typeof PLANS)[number]

const GiB = 1024 ** 3
const TiB = 1024 ** 4
/**
 * Decodes in flight may together reserve this much (pixels x bands x bytes per sample). One
 * 100-megapixel RGBA image is 400 MB by that count and runs alone; the estimate is an upper
 * bound (sequential, shrink-on-load decodes mostly stream), which keeps the process under the
 * 1 GiB peak of issue 10 with the bomb mix of scripts/bench-upload.ts.
 */
const DEFAULT_PROCESSING_MEMORY_BUDGET = 384 * 1024 * 1024

/** What each plan allows: uploads per day, storage, monthly bandwidth, API requests per hour. */
export const PLAN_LIMITS: Record<Plan, { uploadsPerDay: number; requestsPerHour: number; storageBytes: number; bandwidthBytesPerMonth: number }> = {
  free: { uploadsPerDay: 100, requestsPerHour: 1_000, storageBytes: 1 * GiB, bandwidthBytesPerMonth: 10 * GiB },
  pro: { uploadsPerDay: 1_000, requestsPerHour: 5_000, storageBytes: 50 * GiB, bandwidthBytesPerMonth: 500 * GiB },
  enterprise: { uploadsPerDay: 10_000, requestsPerHour: 20_000, storageBytes: 500 * GiB, bandwidthBytesPerMonth: 5 * TiB },
}

/** Which object store to use; the storage module owns its shape. */
export type StorageSettings = StorageConfig

export interface Config {
  nodeEnv: string
  isDevelopment: boolean
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  modules: ModuleName[]
  host: string
  ports: Record<ModuleName, number>
  /** After SIGTERM: how long in-flight requests may run before they are cut and the process exits. */
  shutdownTimeoutSeconds: number
  /** Requests in flight per process past which new ones are shed with a 503. */
  maxInflightRequests: number
  /** A request body that sends nothing for this long is cut with a 408 (a slow but steady one is not). */
  bodyTimeoutSeconds: number
  /** PORT: every enabled module on this one listener (one origin). Undefined: one port per module. */
  singlePort?: number
  publicUrls: Record<ModuleName, string>
  frontendUrl?: string
  cdnBaseUrl?: string
  dataDir: string
  databaseUrl?: string
  databasePoolMax: number
  /** Connecting to DATABASE_URL may take this long before requests fail with 503 database_unavailable. */
  databaseConnectTimeoutMs: number
  /**
   * On PostgreSQL, how long a change committed elsewhere (another replica, a job, psql) may take
   * to reach this process's API-key and image-list caches; requests that may write answer only
   * once it has passed. 0: every cached call waits for a round trip instead (src/db/index.ts).
   */
  changePropagationMs: number
  /** The embedded database's buffer pool, MiB (its shared_buffers); resident from the start. */
  embeddedSharedBuffersMb: number
  /** Each storage call may take this long (per attempt, without data moving) before it fails with 503 storage_unavailable. */
  storageTimeoutMs: number
  /** Attempts per storage call, the first included; transport failures and timeouts are retried. */
  storageMaxAttempts: number
  /** Uploads are refused (507) when they would leave less than this free on DATA_DIR's filesystem. */
  minFreeDiskBytes: number
  /** Undefined means: generate one and keep it in DATA_DIR. */
  jwtSecret?: string
  /**
   * The secret before a rotation: secrets sealed and recovery codes hashed under it stay readable
   * (each re-sealed under the current secret when used); sessions and signed links are not.
   */
  jwtSecretPrevious?: string
  jwtTtlSeconds: number
  cronSecretToken?: string
  /** When set, GET /metrics on every listener needs `Authorization: Bearer <token>`. */
  metricsToken?: string
  /** METRICS_PORT: a listener on 127.0.0.1 serving only /metrics. Without it and without a token, no metrics are served. */
  metricsPort?: number
  /** Proxies in front that append to X-Forwarded-For (TRUST_PROXY): 0 believes only the socket. */
  trustedProxies: number
  storage: StorageSettings
  maxUploadBytes: number
  maxImagePixels: number
  maxImageFrames: number
  processingConcurrency: number
  /** What image decodes running together may hold (src/media/memory-budget.ts). */
  processingMemoryBudgetBytes: number
  deletionGracePeriodSeconds: number
  analyticsRetentionDays: number
  storeViewerIp: boolean
  /** Record views (analytics, view counters, bandwidth). Off only to measure what recording costs. */
  analyticsEnabled: boolean
  /** The view module's copies of image files: small hot ones in memory, big S3 ones on local disk; 0 turns either off. */
  viewCache: { maxObjectBytes: number; totalBytes: number; diskBytes: number }
  anonymousRequestsPerHour: number
  loginMaxFailures: number
  loginFailureWindowSeconds: number
  /** Register answers 202 "check your email" whether or not the address has an account; the link signs in. */
  registrationVerifyFirst: boolean
  /** Audit log entries older than this many days are pruned by the housekeeping job. */
  auditRetentionDays: number
  /** Abuse reports one address may file per hour. */
  reportsPerHour: number
  /** Distinct reporters after which an image is hidden until an admin reviews it; 0 = never. */
  reportAutohideThreshold: number
  /** WebAuthn relying party: the domain passkeys are bound to, and the page origins allowed to use them. */
  webauthn: { rpId: string; rpName: string; origins: string[] }
  /** Admin routes answer 403 two_factor_required to an admin without a second factor. */
  requireAdmin2fa: boolean
  /** REGISTRATION: open, invite or closed. Existing accounts sign in whatever it says. */
  registration: RegistrationMode
  cloudflare?: { zoneId: string; apiToken: string; apiBaseUrl: string }
  smtp?: { host: string; port: number; user?: string; pass?: string; secure: boolean }
  mailFrom: string
  webhooks: WebhookSettings
  oauth: {
    google?: { clientId: string; clientSecret: string }
    github?: { clientId: string; clientSecret: string }
    /** Overridable so tests can run a fake provider on loopback. */
    googleAuthorizeUrl?: string
    googleTokenUrl?: string
    googleUserinfoUrl?: string
    githubAuthorizeUrl?: string
    githubTokenUrl?: string
    githubApiUrl?: string
    /**
     * A generic OpenID Connect provider, found by discovery from its issuer URL. tokenAuthMethod:
     * how the client authenticates at the token endpoint; undefined: as the discovery document offers.
     */
    oidc?: {
      issuer: string
      clientId: string
      /** Absent only where the client authenticates with its key (private_key_jwt). */
      clientSecret?: string
      /** private_key_jwt: the client's private key (OIDC_CLIENT_KEY_FILE) and the JWS algorithm it signs with. */
      clientKey?: SigningKey
      /** A key rollover's next key (OIDC_CLIENT_NEXT_KEY_FILE): published beside the client key, never signing. */
      nextClientKey?: SigningKey
      scopes: string[]
      name: string
      tokenAuthMethod?: OidcTokenAuthMethod
      /** Logging out of a session signed in through the provider ends the provider's session too (RP-Initiated Logout). */
      logoutAtProvider: boolean
    }
  }
}

/** Outgoing webhook deliveries (modules/webhooks). */
export interface WebhookSettings {
  /** WEBHOOK_ALLOW_PRIVATE: let targets resolve to private, loopback, link-local … addresses. */
  allowPrivate: boolean
  /** WEBHOOK_ALLOWED_NETWORKS: CIDRs exempt from the private-address refusal (an internal receiver), the rest stays refused. */
  allowedNetworks: string[]
  /** One attempt (connect, send, first bytes of the answer) may take this long. */
  timeoutMs: number
  /** Deliveries in flight per process. */
  concurrency: number
  /** How often a process looks for due deliveries. */
  pollIntervalMs: number
  /** A delivery is retried until this long after its event, then marked failed. */
  retryWindowSeconds: number
}

export class ConfigError extends Error {
  constructor(readonly variable: string, expectation: string, value?: string) {
    super(`${variable}${value === undefined ? '' : `=${JSON.stringify(value)}`}: ${expectation}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

const HOUR = 3600
const DAY = 86400
/**
 * The longest each duration may be. Each one becomes a timer or a Date: past 2^31-1 ms (24.8
 * days) setTimeout fires at once, and a Date past year 275760 is Invalid Date, which made every
 * sign-in a 500 with JWT_EXPIRES_IN=999999d. These maxima are far above any real need.
 */
const DURATION_MAXIMA = {
  /** A drain longer than an hour is a stuck process, not a graceful stop. */
  SHUTDOWN_TIMEOUT: HOUR,
  /** Seconds of silence inside one request body. */
  BODY_TIMEOUT: HOUR,
  /** The session's lifetime (its row and its JWT), not a short access token: 30 days is a common "remember me". */
  JWT_EXPIRES_IN: 90 * DAY,
  DELETION_GRACE_PERIOD: 365 * DAY,
  LOGIN_FAILURE_WINDOW: DAY,
  /** One delivery attempt; a receiver that has not answered in 10 minutes will not. */
  WEBHOOK_TIMEOUT: 10 * 60,
  WEBHOOK_RETRY_WINDOW: 30 * DAY,
} as const

/** The largest unit that states `seconds` exactly: 90d, 1h, 600s. */
function formatDuration(seconds: number): string {
  const unit = (['d', 'h', 'm'] as const).find((u) => seconds % DURATION_UNITS[u]! === 0)
  return unit ? `${seconds / DURATION_UNITS[unit]!}${unit}` : `${seconds}s`
}

/** JWT_SECRET's, and the generated one's kept in DATA_DIR (src/context.ts). */
export const JWT_SECRET_MIN_LENGTH = 32
/** Tokens compared to a bearer header: long enough not to be guessed at HTTP speed. */
const MIN_TOKEN_LENGTH = 16
/** A secret of few distinct characters ("aaaa…", a repeated word's letters) is a placeholder, not a secret. */
const MIN_DISTINCT_SECRET_CHARACTERS = 8
/** "change-me-to-at-least-32-random-characters": what the example file holds until someone replaces it. */
const PLACEHOLDER_SECRET = /change[-_ ]?me/i

/** Every duration's least: 0 would cut each request body at once (BODY_TIMEOUT), end each session as it starts (JWT_EXPIRES_IN), delete at once (DELETION_GRACE_PERIOD). */
const MIN_DURATION_SECONDS = 1

/**
 * "7d", "12h", "30m", "45s"; undefined for anything else, or less than MIN_DURATION_SECONDS.
 * The unit is required: a bare number was taken as seconds, so DELETION_GRACE_PERIOD=7 (meant
 * as days) deleted accounts at the next cleanup and JWT_EXPIRES_IN=30 ended sessions in 30 s.
 */
export function parseDurationSeconds(value: string): number | undefined {
  const match = /^(\d+)\s*([smhd])$/.exec(value.trim())
  if (!match) return undefined
  const seconds = Number(match[1]) * DURATION_UNITS[match[2]!]!
  return seconds >= MIN_DURATION_SECONDS ? seconds : undefined
}

/** Small typed readers: each failure names its variable and what it must be. */
function reader(env: Env) {
  const raw = (name: string): string | undefined => {
    const value = env[name]
    return value === undefined || value.trim() === '' ? undefined : value.trim()
  }
  const integer = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const value = raw(name)
    if (value === undefined) return fallback
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new ConfigError(name, `must be a whole number from ${min} to ${max}`, value)
    }
    return Number(value)
  }
  const boolean = (name: string, fallback: boolean): boolean => {
    const value = raw(name)?.toLowerCase()
    if (value === undefined) return fallback
    if (['true', '1', 'yes', 'on'].includes(value)) return true
    if (['false', '0', 'no', 'off'].includes(value)) return false
    throw new ConfigError(name, 'must be true or false', value)
  }
  const url = (name: string, fallback?: string): string | undefined => {
    const value = raw(name) ?? fallback
    if (value === undefined) return undefined
    let parsed: URL
    try {
      parsed = new URL(value)
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error()
    } catch {
      throw new ConfigError(name, 'must be an http(s) URL', value)
    }
    // Each is a base that paths are appended to, and it is repeated in every link, page and log
    // line: a query or fragment would swallow the path, credentials would be published.
    // (The WHATWG parser drops an empty "user@", so the text itself is checked.)
    const expectation = 'must have no query, fragment or user:password'
    if (parsed.username || parsed.password || /^[a-z]+:\/\/[^/?#]*@/i.test(value)) throw new ConfigError(name, expectation)
    if (/[?#]/.test(value)) throw new ConfigError(name, expectation, value)
    return value.replace(/\/+$/, '')
  }
  /**
   * One sentence for every refusal, stating the range: "0s" is in the written form, and a list of
   * examples such as "7d" would offer SHUTDOWN_TIMEOUT (at most 1h) a value it refuses.
   */
  const duration = (name: keyof typeof DURATION_MAXIMA, fallback: string): number => {
    const value = raw(name) ?? fallback
    const seconds = parseDurationSeconds(value)
    const max = DURATION_MAXIMA[name]
    if (seconds === undefined || seconds > max) {
      throw new ConfigError(name, `must be a duration from ${formatDuration(MIN_DURATION_SECONDS)} to ${formatDuration(max)} (a whole number followed by s, m, h or d)`, value)
    }
    return seconds
  }
  /** A secret is never echoed in the error; a blank one (only spaces) is refused, not taken as unset. */
  const secret = (name: string, minLength: number, orUnset = ''): string | undefined => {
    const given = env[name]
    if (given === undefined || given === '') return undefined
    const value = given.trim()
    if (value === '') throw new ConfigError(name, `must not be blank${orUnset}`)
    if (value.length < minLength) throw new ConfigError(name, `must be at least ${minLength} characters${orUnset}`)
    if (new Set(value).size < MIN_DISTINCT_SECRET_CHARACTERS) {
      throw new ConfigError(name, `must have at least ${MIN_DISTINCT_SECRET_CHARACTERS} different characters, e.g. from openssl rand -hex 32${orUnset}`)
    }
    // deploy/.env.example's placeholders are long and varied enough to pass the checks above, and
    // published: every link, token and sealed secret signed with one could be forged by anyone.
    if (PLACEHOLDER_SECRET.test(value)) throw new ConfigError(name, `is the placeholder of deploy/.env.example; set a secret of your own, e.g. from openssl rand -hex 32${orUnset}`)
    return value
  }
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const value = raw(name) ?? fallback
    if (!allowed.includes(value as T)) throw new ConfigError(name, `must be one of ${allowed.join(', ')}`, value)
    return value as T
  }
  return { raw, integer, boolean, url, duration, secret, oneOf }
}

/** Most proxies a request passes before reaching us: more is a configuration mistake, not a network. */
const MAX_TRUSTED_PROXIES = 10

/** TRUST_PROXY: false, true (one proxy), or how many proxies stand in front, one behind the other. */
function trustedProxies(value: string | undefined): number {
  const lower = value?.toLowerCase()
  if (lower === undefined || ['false', 'no', 'off', '0'].includes(lower)) return 0
  if (['true', 'yes', 'on'].includes(lower)) return 1
  if (/^\d+$/.test(lower) && Number(lower) <= MAX_TRUSTED_PROXIES) return Number(lower)
  throw new ConfigError('TRUST_PROXY', `must be false, true (one proxy in front) or the number of proxies in front, 1 to ${MAX_TRUSTED_PROXIES}`, value)
}

function parseModules(value: string | undefined): ModuleName[] {
  if (value === undefined || value.toLowerCase() === 'all') return [...MODULE_NAMES]
  // No filter(Boolean): "auth,,view" is a list with a name missing, not a list of two.
  const names = value.split(',').map((part) => part.trim().toLowerCase())
  const unknown = names.filter((name) => !MODULE_NAMES.includes(name as ModuleName))
  if (unknown.length > 0) {
    const expectation = 'must be all, auth, upload, view, or a comma list of them'
    throw new ConfigError('SERVER_MODE', names.includes('') ? `${expectation} with no empty item` : expectation, value)
  }
  return MODULE_NAMES.filter((name) => names.includes(name))
}

/**
 * Two modules on one port would either fail to listen or (with SO_REUSEPORT) split requests
 * between them at random; one listener for several modules is what PORT is for.
 */
function refuseSharedPorts(modules: ModuleName[], ports: Record<ModuleName, number>) {
  const seen = new Map<number, ModuleName>()
  for (const module of modules) {
    const port = ports[module]
    const other = seen.get(port)
    if (port !== 0 && other) {
      const name = (m: ModuleName) => `${m.toUpperCase()}_PORT`
      throw new ConfigError(name(module), `must differ from ${name(other)} (set PORT instead to run every module on one port)`, String(port))
    }
    seen.set(port, module)
  }
}

/** PORT puts every module on one listener: a module's own port beside it would be ignored, so it is refused instead. */
function refuseModulePortsBeside(read: ReturnType<typeof reader>) {
  for (const module of MODULE_NAMES) {
    const name = `${module.toUpperCase()}_PORT`
    const value = read.raw(name)
    if (value !== undefined) throw new ConfigError(name, 'must not be set together with PORT, which runs every module on one port: unset one of them', value)
  }
}

/** Each S3_* setting and its Backblaze B2 alias (older deployments use those names). */
const S3_SETTINGS = {
  bucket: ['S3_BUCKET', 'B2_BUCKET_NAME'],
  endpoint: ['S3_ENDPOINT', 'B2_S3_ENDPOINT'],
  accessKeyId: ['S3_ACCESS_KEY_ID', 'B2_APPLICATION_KEY_ID'],
  secretAccessKey: ['S3_SECRET_ACCESS_KEY', 'B2_APPLICATION_KEY'],
  region: ['S3_REGION'],
  forcePathStyle: ['S3_FORCE_PATH_STYLE'],
} as const
const B2_ALIASES = new Set<string>(Object.values(S3_SETTINGS).flatMap((names) => names.slice(1)))

function parseStorage(read: ReturnType<typeof reader>, dataDir: string): StorageSettings {
  // Which name of each setting is in use; both names at once would leave one silently ignored.
  const named = {} as Record<keyof typeof S3_SETTINGS, string | undefined>
  for (const [setting, names] of Object.entries(S3_SETTINGS) as [keyof typeof S3_SETTINGS, readonly string[]][]) {
    const given = names.filter((name) => read.raw(name) !== undefined)
    if (given.length > 1) throw new ConfigError(given[1]!, `must not be set with ${given[0]} (the B2_* names are aliases of the S3_* ones; set one)`)
    named[setting] = given[0]
  }
  // B2's own API names a bucket by id (the spec's .env has B2_BUCKET_ID); its S3-compatible API,
  // which imghost speaks, by name. Beside the name the id is not needed; without it, it is a
  // bucket named in a way imghost cannot use, and images would go to DATA_DIR without a word.
  const bucketIdOnly = read.raw('B2_BUCKET_ID') !== undefined && !named.bucket
  if (bucketIdOnly) {
    throw new ConfigError('B2_BUCKET_NAME', 'must be set when B2_BUCKET_ID is: imghost reaches B2 through its S3-compatible API, which names the bucket (with B2_S3_ENDPOINT); B2_BUCKET_ID is then not needed')
  }
  const usesB2 = Object.values(named).some((name) => name !== undefined && B2_ALIASES.has(name))
  if (!named.bucket) {
    // Without a bucket, storage is local: credentials or an endpoint alone mean a forgotten bucket.
    const stray = Object.values(named).find((name) => name !== undefined)
    if (stray) throw new ConfigError(usesB2 ? 'B2_BUCKET_NAME' : 'S3_BUCKET', `must be set when ${stray} is (without a bucket, images are stored in DATA_DIR)`)
    return { driver: 'local', rootDir: resolve(dataDir, 'objects') }
  }
  const bucket = read.raw(named.bucket)!
  const endpoint = named.endpoint ? read.url(named.endpoint) : undefined
  // B2 has no default endpoint: without one the S3 client would send B2 credentials to AWS.
  if (named.bucket === 'B2_BUCKET_NAME' && !endpoint) throw new ConfigError('B2_S3_ENDPOINT', 'must be set with B2_BUCKET_NAME (e.g. https://s3.us-west-004.backblazeb2.com)')
  const accessKeyId = named.accessKeyId ? read.raw(named.accessKeyId) : undefined
  const secretAccessKey = named.secretAccessKey ? read.raw(named.secretAccessKey) : undefined
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    const [idName, secretName] = usesB2 ? ['B2_APPLICATION_KEY_ID', 'B2_APPLICATION_KEY'] : ['S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']
    throw new ConfigError(accessKeyId === undefined ? idName : secretName, `${idName} and ${secretName} must be set together`)
  }
  // B2 endpoints look like https://s3.us-west-004.backblazeb2.com: the region is in the host.
  const regionFromEndpoint = endpoint ? /s3\.([a-z0-9-]+)\.backblazeb2\.com/.exec(endpoint)?.[1] : undefined
  return {
    driver: 's3',
    bucket,
    endpoint,
    region: read.raw('S3_REGION') ?? regionFromEndpoint ?? 'us-east-1',
    accessKeyId,
    secretAccessKey,
    forcePathStyle: read.boolean('S3_FORCE_PATH_STYLE', endpoint !== undefined),
    // Named in the start's check of the bucket (src/storage/s3.ts), as the operator spelled them.
    variables: { bucket: named.bucket, endpoint: named.endpoint, region: 'S3_REGION', accessKeyId: named.accessKeyId, secretAccessKey: named.secretAccessKey },
  }
}

/**
 * PORT=0 lets the kernel pick the port, which the default public URLs (http://localhost:PORT)
 * cannot name: every link would say http://localhost:0. With the URLs set, the port is free.
 */
function refuseUnnamedSinglePort(read: ReturnType<typeof reader>, modules: ModuleName[], singlePort: number) {
  if (singlePort !== 0) return
  // Every one missing, in one line: naming them one per start makes the operator restart for each.
  const unset = modules.map((module) => `${module.toUpperCase()}_SERVER_URL`).filter((name) => read.raw(name) === undefined)
  if (unset.length === 0) return
  const names = unset.length === 1 ? unset[0] : `${unset.slice(0, -1).join(', ')} and ${unset.at(-1)}`
  throw new ConfigError('PORT', `must not be 0 unless ${names} ${unset.length === 1 ? 'is' : 'are'} set (the public URLs would say http://localhost:0)`, '0')
}

/** Found here rather than at bind time, where it read as "port in use" by another program. */
function refuseMetricsOnModulePort(modules: ModuleName[], ports: Record<ModuleName, number>, singlePort: number | undefined, metricsPort: number) {
  // 0 asks the kernel for a free port each time, so two zeros never meet.
  if (metricsPort === 0) return
  if (singlePort === metricsPort) throw new ConfigError('METRICS_PORT', 'must differ from PORT (metrics have a listener of their own)', String(metricsPort))
  const module = singlePort === undefined ? modules.find((m) => ports[m] === metricsPort) : undefined
  if (module) throw new ConfigError('METRICS_PORT', `must differ from ${module.toUpperCase()}_PORT (metrics have a listener of their own)`, String(metricsPort))
}

function parseViewCache(read: ReturnType<typeof reader>): Config['viewCache'] {
  const maxObjectBytes = read.integer('VIEW_CACHE_MAX_OBJECT_BYTES', 512 * 1024, 0, 64 * 1024 * 1024)
  const totalBytes = read.integer('VIEW_CACHE_BYTES', 64 * 1024 * 1024, 0, 64 * 1024 ** 3)
  // VIEW_CACHE_BYTES=0 turns the memory cache off, whatever the largest object would have been.
  if (totalBytes > 0 && maxObjectBytes > totalBytes && read.raw('VIEW_CACHE_MAX_OBJECT_BYTES') !== undefined) {
    throw new ConfigError('VIEW_CACHE_MAX_OBJECT_BYTES', `must not exceed VIEW_CACHE_BYTES (${totalBytes})`, String(maxObjectBytes))
  }
  return { maxObjectBytes, totalBytes, diskBytes: read.integer('VIEW_DISK_CACHE_BYTES', 1024 ** 3, 0, 1024 ** 4) }
}

/**
 * The settings that only mean something with SMTP_HOST. SMTP_FROM is not one of them: without
 * SMTP the mail written to DATA_DIR/mail carries it too.
 */
const SMTP_SETTINGS = ['SMTP_PORT', 'SMTP_SECURE', 'SMTP_USER', 'SMTP_PASS'] as const

/**
 * A host name (labels of letters, digits and hyphens, and underscores, which container
 * networks' service names may hold) or an IP address: not a URL, nor a host with its port.
 */
const HOST_NAME = /^(?=.{1,253}\.?$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i

/**
 * As for S3 without a bucket: any SMTP setting without SMTP_HOST is refused, since an operator
 * who forgot or misspelled it (SMTP_SERVER) got a server that quietly wrote every verification
 * and reset mail to DATA_DIR/mail instead of sending it. Values are checked first, so a bad one
 * is named as such.
 */
function parseSmtp(read: ReturnType<typeof reader>): Config['smtp'] {
  const host = read.raw('SMTP_HOST')
  const port = read.integer('SMTP_PORT', 587, 1, 65535)
  const secure = read.boolean('SMTP_SECURE', port === 465)
  const user = read.raw('SMTP_USER')
  const pass = read.raw('SMTP_PASS')
  if (host === undefined) {
    const stray = SMTP_SETTINGS.find((name) => read.raw(name) !== undefined)
    if (stray) throw new ConfigError('SMTP_HOST', `must be set when ${stray} is (without it, mail is not sent but written to DATA_DIR/mail)`)
    return undefined
  }
  if (isIP(host) === 0 && !HOST_NAME.test(host)) {
    throw new ConfigError('SMTP_HOST', 'must be a host name or an IP address, such as smtp.example.com (no scheme, and no port: SMTP_PORT sets that)', host)
  }
  // The password alone was dropped without a word: mail then went out unauthenticated, or not at all.
  if (pass !== undefined && user === undefined) throw new ConfigError('SMTP_USER', 'must be set when SMTP_PASS is (a password is sent with its user name)')
  return { host, port, user, pass, secure }
}

/** An address, or `Name <address>` (RFC 5322's mailbox, loosely): what mail servers accept in From. */
const MAILBOX = /^(?:[^\s@<>]+@[^\s@<>]+|[^<>\r\n]*<[^\s@<>]+@[^\s@<>]+>)$/

function parseMailFrom(value: string | undefined): string {
  if (value === undefined) return 'imghost <no-reply@localhost>'
  if (!MAILBOX.test(value)) throw new ConfigError('SMTP_FROM', 'must be an address or Name <address>, e.g. imghost <no-reply@example.com>', value)
  return value
}

/**
 * Passkeys are bound to a domain (the RP ID) and only work on pages whose origin is that domain
 * or under it. Defaults come from AUTH_SERVER_URL, where the web app lives. An IP address is not
 * a valid RP ID: browsers refuse it, so a deployment reached by IP has to set a name.
 */
function parseWebAuthn(read: ReturnType<typeof reader>, authUrl: string): Config['webauthn'] {
  const given = read.raw('WEBAUTHN_RP_ID')
  const rpId = (given ?? new URL(authUrl).hostname).toLowerCase()
  if (given !== undefined && !/^[a-z0-9.-]+$/.test(rpId)) throw new ConfigError('WEBAUTHN_RP_ID', 'must be a domain name such as example.com', rpId)
  if (given !== undefined && isIP(rpId) !== 0) throw new ConfigError('WEBAUTHN_RP_ID', 'must be a domain name, not an IP address (browsers refuse passkeys for an IP)', rpId)
  const givenOrigins = read.raw('WEBAUTHN_ORIGIN')
  const origins = (givenOrigins ?? new URL(authUrl).origin).split(',').map((value) => value.trim()).filter(Boolean)
  for (const origin of origins) {
    let url: URL
    try {
      url = new URL(origin)
    } catch {
      throw new ConfigError('WEBAUTHN_ORIGIN', 'must be a comma list of http(s) origins', origin)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('WEBAUTHN_ORIGIN', 'must be a comma list of http(s) origins', origin)
    if (url.hostname !== rpId && !url.hostname.endsWith(`.${rpId}`)) {
      // The origin came from AUTH_SERVER_URL: the setting the operator made is the RP ID.
      if (givenOrigins === undefined) {
        throw new ConfigError('WEBAUTHN_RP_ID', `must be AUTH_SERVER_URL's host (${url.hostname}) or a domain above it, or set WEBAUTHN_ORIGIN to the origins under it`, rpId)
      }
      throw new ConfigError('WEBAUTHN_ORIGIN', `each origin must be on WEBAUTHN_RP_ID (${rpId}) or a subdomain of it`, origin)
    }
  }
  return { rpId, rpName: read.raw('WEBAUTHN_RP_NAME') ?? 'imghost', origins: origins.map((origin) => new URL(origin).origin) }
}

export const OIDC_TOKEN_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const
export type OidcTokenAuthMethod = (typeof OIDC_TOKEN_AUTH_METHODS)[number]

/** OIDC_CLIENT_KEY_FILE or OIDC_CLIENT_NEXT_KEY_FILE: a PEM private key the provider holds, or is to hold, the public half of. */
function readClientKey(variable: string, path: string): SigningKey {
  try {
    return readSigningKey(path)
  } catch (error) {
    if (error instanceof UnusableKeyFile) throw new ConfigError(variable, error.message, path)
    throw error
  }
}

function parseOidc(read: ReturnType<typeof reader>): Config['oauth']['oidc'] {
  const issuer = read.url('OIDC_ISSUER')
  const clientId = read.raw('OIDC_CLIENT_ID')
  const clientSecret = read.raw('OIDC_CLIENT_SECRET')
  const keyFile = read.raw('OIDC_CLIENT_KEY_FILE')
  const nextKeyFile = read.raw('OIDC_CLIENT_NEXT_KEY_FILE')
  const logoutAtProvider = read.boolean('OIDC_LOGOUT_AT_PROVIDER', false)
  if (!issuer && !clientId && !clientSecret && !keyFile && !nextKeyFile) {
    if (logoutAtProvider) throw new ConfigError('OIDC_LOGOUT_AT_PROVIDER', 'needs OpenID Connect sign-in (OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET)')
    return undefined
  }
  if (!issuer) throw new ConfigError('OIDC_ISSUER', 'must be set with OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (the provider\'s issuer URL)')
  if (!clientId) throw new ConfigError('OIDC_CLIENT_ID', 'must be set with OIDC_ISSUER')
  const scopes = (read.raw('OIDC_SCOPES') ?? 'openid email profile').split(/[\s,]+/).filter(Boolean)
  if (!scopes.includes('openid')) throw new ConfigError('OIDC_SCOPES', 'must include openid', scopes.join(' '))
  // A key file alone means the key is how the client signs in.
  const tokenAuthMethod =
    read.raw('OIDC_TOKEN_AUTH_METHOD') === undefined ? (keyFile ? 'private_key_jwt' : undefined) : read.oneOf('OIDC_TOKEN_AUTH_METHOD', OIDC_TOKEN_AUTH_METHODS, 'client_secret_basic')
  let clientKey: SigningKey | undefined
  if (tokenAuthMethod === 'private_key_jwt') {
    if (!keyFile) throw new ConfigError('OIDC_CLIENT_KEY_FILE', 'must name the client\'s private key (a PEM file) with OIDC_TOKEN_AUTH_METHOD=private_key_jwt')
    clientKey = readClientKey('OIDC_CLIENT_KEY_FILE', keyFile)
  } else {
    if (keyFile) throw new ConfigError('OIDC_CLIENT_KEY_FILE', `is used only with OIDC_TOKEN_AUTH_METHOD=private_key_jwt, not ${tokenAuthMethod}`, keyFile)
    if (nextKeyFile) throw new ConfigError('OIDC_CLIENT_NEXT_KEY_FILE', 'is the next key of a rollover of OIDC_CLIENT_KEY_FILE, which is not set', nextKeyFile)
    if (!clientSecret) throw new ConfigError('OIDC_CLIENT_SECRET', 'must be set with OIDC_CLIENT_ID (or OIDC_CLIENT_KEY_FILE, for private_key_jwt)')
  }
  return {
    issuer,
    clientId,
    ...(clientSecret ? { clientSecret } : {}),
    ...(clientKey ? { clientKey } : {}),
    ...(nextKeyFile ? { nextClientKey: readClientKey('OIDC_CLIENT_NEXT_KEY_FILE', nextKeyFile) } : {}),
    scopes,
    name: read.raw('OIDC_NAME') ?? 'Single sign-on',
    ...(tokenAuthMethod ? { tokenAuthMethod } : {}),
    logoutAtProvider,
  }
}

export function parseConfig(env: Env): Config {
  const read = reader(env)
  const nodeEnv = read.raw('NODE_ENV') ?? 'production'
  const dataDir = resolve(read.raw('DATA_DIR') ?? './data')
  const host = read.raw('HOST') ?? '0.0.0.0'
  const ports = {
    auth: read.integer('AUTH_PORT', 5001, 0, 65535),
    upload: read.integer('UPLOAD_PORT', 5002, 0, 65535),
    view: read.integer('VIEW_PORT', 5003, 0, 65535),
  }
  const singlePort = read.raw('PORT') === undefined ? undefined : read.integer('PORT', 0, 0, 65535)
  const modules = parseModules(read.raw('SERVER_MODE'))
  if (singlePort === undefined) refuseSharedPorts(modules, ports)
  else {
    refuseModulePortsBeside(read)
    refuseUnnamedSinglePort(read, modules, singlePort)
  }
  const local = (port: number) => `http://localhost:${singlePort ?? port}`
  const metricsPort = read.raw('METRICS_PORT') === undefined ? undefined : read.integer('METRICS_PORT', 0, 0, 65535)
  if (metricsPort !== undefined) refuseMetricsOnModulePort(modules, ports, singlePort, metricsPort)
  // Unsetting it is a real option here: a secret is then generated once and kept.
  const jwtSecret = read.secret('JWT_SECRET', JWT_SECRET_MIN_LENGTH, ' (or unset, to generate one in DATA_DIR)')
  const jwtSecretPrevious = read.secret('JWT_SECRET_PREVIOUS', JWT_SECRET_MIN_LENGTH)
  if (jwtSecretPrevious !== undefined && jwtSecretPrevious === jwtSecret) throw new ConfigError('JWT_SECRET_PREVIOUS', 'must differ from JWT_SECRET (it is the secret before the rotation)')
  const zoneId = read.raw('CLOUDFLARE_ZONE_ID')
  const apiToken = read.raw('CLOUDFLARE_API_TOKEN')
  // One without the other would leave purging off, silently: deleted images cached for a year.
  if ((zoneId === undefined) !== (apiToken === undefined)) {
    throw new ConfigError(zoneId === undefined ? 'CLOUDFLARE_ZONE_ID' : 'CLOUDFLARE_API_TOKEN', 'CLOUDFLARE_ZONE_ID and CLOUDFLARE_API_TOKEN must be set together')
  }
  const smtp = parseSmtp(read)
  // Checked even while its feature is off: a typo made while preparing a change is found now,
  // not on the day the feature is turned on.
  const cloudflareApiBaseUrl = read.url('CLOUDFLARE_API_BASE_URL', 'https://api.cloudflare.com/client/v4')!
  const pair = (idName: string, secretName: string) => {
    const clientId = read.raw(idName)
    const clientSecret = read.raw(secretName)
    if ((clientId === undefined) !== (clientSecret === undefined)) {
      throw new ConfigError(secretName, `${idName} and ${secretName} must be set together`)
    }
    return clientId && clientSecret ? { clientId, clientSecret } : undefined
  }

  const authUrl = read.url('AUTH_SERVER_URL', local(ports.auth))!
  const allowedNetworks = (read.raw('WEBHOOK_ALLOWED_NETWORKS') ?? '').split(',').map((part) => part.trim()).filter(Boolean)
  for (const network of allowedNetworks) {
    const [address, bits, extra] = network.split('/')
    const family = isIP(address ?? '')
    const max = family === 6 ? 128 : 32
    if (!family || extra !== undefined || (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > max))) {
      throw new ConfigError('WEBHOOK_ALLOWED_NETWORKS', 'must be a comma list of IP addresses or CIDRs such as 10.0.5.0/24', network)
    }
  }

  const config: Config = {
    nodeEnv,
    isDevelopment: nodeEnv === 'development',
    logLevel: read.oneOf('LOG_LEVEL', ['debug', 'info', 'warn', 'error', 'silent'] as const, 'info'),
    modules,
    host,
    ports,
    singlePort,
    shutdownTimeoutSeconds: read.duration('SHUTDOWN_TIMEOUT', '25s'),
    maxInflightRequests: read.integer('MAX_INFLIGHT_REQUESTS', 1024, 1, 1_000_000),
    bodyTimeoutSeconds: read.duration('BODY_TIMEOUT', '20s'),
    publicUrls: {
      auth: authUrl,
      upload: read.url('UPLOAD_SERVER_URL', local(ports.upload))!,
      view: read.url('VIEW_SERVER_URL', local(ports.view))!,
    },
    frontendUrl: read.url('FRONTEND_URL'),
    cdnBaseUrl: read.url('CDN_BASE_URL'),
    dataDir,
    databaseUrl: read.raw('DATABASE_URL'),
    databasePoolMax: read.integer('DATABASE_POOL_MAX', 10, 1, 1000),
    databaseConnectTimeoutMs: read.integer('DATABASE_CONNECT_TIMEOUT_MS', 1500, 100, 60_000),
    changePropagationMs: read.integer('CHANGE_PROPAGATION_MS', DEFAULT_CHANGE_PROPAGATION_MS, 0, 1000),
    embeddedSharedBuffersMb: read.integer('EMBEDDED_SHARED_BUFFERS_MB', 8, 1, 1024),
    storageTimeoutMs: read.integer('STORAGE_TIMEOUT_MS', 10_000, 100, 600_000),
    storageMaxAttempts: read.integer('STORAGE_MAX_ATTEMPTS', 2, 1, 10),
    // A 16 MiB WAL segment the database may need at any moment, plus room for work in flight.
    minFreeDiskBytes: read.integer('MIN_FREE_DISK_BYTES', 64 * 1024 * 1024, 0),
    jwtSecret,
    jwtSecretPrevious,
    jwtTtlSeconds: read.duration('JWT_EXPIRES_IN', '7d'),
    cronSecretToken: read.secret('CRON_SECRET_TOKEN', MIN_TOKEN_LENGTH),
    metricsToken: read.secret('METRICS_TOKEN', MIN_TOKEN_LENGTH),
    metricsPort,
    trustedProxies: trustedProxies(read.raw('TRUST_PROXY')),
    storage: parseStorage(read, dataDir),
    maxUploadBytes: read.integer('MAX_UPLOAD_BYTES', 20 * 1024 * 1024, 1024, 1024 ** 3),
    maxImagePixels: read.integer('MAX_IMAGE_PIXELS', 100_000_000, 1, 1_000_000_000),
    maxImageFrames: read.integer('MAX_IMAGE_FRAMES', 300, 1, 100_000),
    processingConcurrency: read.integer('PROCESSING_CONCURRENCY', Math.max(1, availableParallelism()), 1, 64),
    processingMemoryBudgetBytes: read.integer('PROCESSING_MEMORY_BUDGET_BYTES', DEFAULT_PROCESSING_MEMORY_BUDGET, 16 * 1024 * 1024, 1024 ** 4),
    deletionGracePeriodSeconds: read.duration('DELETION_GRACE_PERIOD', '7d'),
    analyticsRetentionDays: read.integer('ANALYTICS_RETENTION_DAYS', 90, 1, 36500),
    storeViewerIp: read.boolean('STORE_VIEWER_IP', false),
    analyticsEnabled: read.boolean('ANALYTICS_ENABLED', true),
    viewCache: parseViewCache(read),
    anonymousRequestsPerHour: read.integer('ANONYMOUS_REQUESTS_PER_HOUR', 1_000, 1),
    loginMaxFailures: read.integer('LOGIN_MAX_FAILURES', 10, 1, 10_000),
    loginFailureWindowSeconds: read.duration('LOGIN_FAILURE_WINDOW', '15m'),
    registrationVerifyFirst: read.boolean('REGISTRATION_VERIFY_FIRST', false),
    auditRetentionDays: read.integer('AUDIT_RETENTION_DAYS', 365, 1, 36500),
    reportsPerHour: read.integer('REPORTS_PER_HOUR', 10, 1, 100_000),
    reportAutohideThreshold: read.integer('REPORT_AUTOHIDE_THRESHOLD', 0, 0, 1_000_000),
    webauthn: parseWebAuthn(read, authUrl),
    requireAdmin2fa: read.boolean('REQUIRE_ADMIN_2FA', false),
    registration: read.oneOf('REGISTRATION', REGISTRATION_MODES, 'open'),
    cloudflare:
      zoneId && apiToken
        ? { zoneId, apiToken, apiBaseUrl: cloudflareApiBaseUrl }
        : undefined,
    smtp,
    mailFrom: parseMailFrom(read.raw('SMTP_FROM')),
    webhooks: {
      allowPrivate: read.boolean('WEBHOOK_ALLOW_PRIVATE', false),
      allowedNetworks,
      timeoutMs: read.duration('WEBHOOK_TIMEOUT', '10s') * 1000,
      concurrency: read.integer('WEBHOOK_CONCURRENCY', 8, 1, 256),
      pollIntervalMs: read.integer('WEBHOOK_POLL_INTERVAL_MS', 1000, 10, 3_600_000),
      retryWindowSeconds: read.duration('WEBHOOK_RETRY_WINDOW', '1d'),
    },
    oauth: {
      google: pair('GOOGLE_CLIENT_ID', 'GOOGLE_CLIENT_SECRET'),
      github: pair('GITHUB_CLIENT_ID', 'GITHUB_CLIENT_SECRET'),
      googleAuthorizeUrl: read.url('GOOGLE_AUTHORIZE_URL'),
      googleTokenUrl: read.url('GOOGLE_TOKEN_URL'),
      googleUserinfoUrl: read.url('GOOGLE_USERINFO_URL'),
      githubAuthorizeUrl: read.url('GITHUB_AUTHORIZE_URL'),
      githubTokenUrl: read.url('GITHUB_TOKEN_URL'),
      githubApiUrl: read.url('GITHUB_API_URL'),
      oidc: parseOidc(read),
    },
  }
  return Object.freeze(config)
}
