import pkg from '../package.json'
import { type Config, ConfigError, parseConfig } from './config.ts'

/**
 * The operator's command line: `imghost [serve]`, `migrate`, `admin create|promote|reset-2fa`, `--help`.
 * Serving lives in server.ts; the other commands run here and exit.
 */

const ENVIRONMENT: [string, string][] = [
  ['SERVER_MODE', 'all | auth | upload | view | a comma list (default all)'],
  ['HOST, AUTH_PORT, UPLOAD_PORT, VIEW_PORT', 'listen address (0.0.0.0) and ports (5001, 5002, 5003; 0 = any free)'],
  ['PORT', 'single-port mode: every enabled module on this one port (one origin)'],
  ['AUTH_SERVER_URL, UPLOAD_SERVER_URL, VIEW_SERVER_URL', 'public base URLs used in responses (http://localhost:<port>)'],
  ['CDN_BASE_URL, FRONTEND_URL', 'CDN in front of the view server; web front end'],
  ['DATA_DIR', 'embedded database, local images, temp files, generated secret (./data)'],
  ['DATABASE_URL, DATABASE_POOL_MAX', 'PostgreSQL URL (unset: embedded PGlite in DATA_DIR/pg); pool size (10)'],
  ['DATABASE_CONNECT_TIMEOUT_MS', 'connecting longer than this fails requests with 503 database_unavailable (1500)'],
  ['CHANGE_PROPAGATION_MS', 'PostgreSQL: a change made outside the API reaches every process within this; writes answer after it (20; 0: strict, slower)'],
  ['EMBEDDED_SHARED_BUFFERS_MB', "the embedded database's buffer pool in MiB, resident from the start (8); the kernel caches its files too"],
  ['JWT_SECRET, JWT_EXPIRES_IN', 'session signing secret, 32+ chars (unset: generated in DATA_DIR); lifetime (7d)'],
  ['JWT_SECRET_PREVIOUS', 'the secret before a rotation: authenticator apps, recovery codes and webhook secrets made under it keep working'],
  ['COOKIE_SECRET', 'accepted and ignored: cookies carry a signed JWT, so nothing else signs them'],
  ['CRON_SECRET_TOKEN', 'bearer token for POST /api/v1/cron/{job} (unset: the route does not exist)'],
  ['METRICS_TOKEN, METRICS_PORT', 'GET /metrics behind Authorization: Bearer <token> on every port; or only on 127.0.0.1:<port> (neither: not served)'],
  ['TRUST_PROXY', 'believe X-Forwarded-For/-Proto from a proxy in front (false)'],
  ['S3_BUCKET, S3_ENDPOINT, S3_REGION', 'S3-compatible storage instead of DATA_DIR/objects'],
  ['S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_FORCE_PATH_STYLE', 'S3 credentials; path-style URLs (true with an endpoint)'],
  ['B2_APPLICATION_KEY_ID, B2_APPLICATION_KEY, B2_BUCKET_NAME, B2_S3_ENDPOINT', 'Backblaze names, aliases of the S3_* ones (B2_BUCKET_ID is accepted beside B2_BUCKET_NAME and not needed)'],
  ['MAX_UPLOAD_BYTES, MAX_IMAGE_PIXELS, MAX_IMAGE_FRAMES', 'upload limits (20 MiB, 100 megapixels, 300 frames)'],
  ['PROCESSING_CONCURRENCY, PROCESSING_MEMORY_BUDGET_BYTES', 'images processed at once (cores); decoded bytes in flight at once (384 MiB)'],
  ['STORAGE_TIMEOUT_MS, STORAGE_MAX_ATTEMPTS', 'per storage attempt (10000) and attempts per call (2); then 503 storage_unavailable'],
  ['MIN_FREE_DISK_BYTES', 'free space kept on DATA_DIR; uploads past it get 507 (64 MiB; 0 = off)'],
  ['SHUTDOWN_TIMEOUT, MAX_INFLIGHT_REQUESTS, BODY_TIMEOUT', 'exit this long after SIGTERM (25s); requests in flight before 503 (1024); a silent body is cut with 408 (20s)'],
  ['DELETION_GRACE_PERIOD', 'delay between a delete request and the deletion (7d)'],
  ['ANALYTICS_ENABLED, ANALYTICS_RETENTION_DAYS, STORE_VIEWER_IP', 'record views (true); raw views kept, days (90); keep viewer IPs (false)'],
  ['VIEW_CACHE_BYTES, VIEW_CACHE_MAX_OBJECT_BYTES, VIEW_DISK_CACHE_BYTES', "view server's memory cache (64 MiB, objects up to 512 KiB) and disk cache (1 GiB)"],
  ['ANONYMOUS_REQUESTS_PER_HOUR', 'per-IP budget without credentials (1000)'],
  ['LOGIN_MAX_FAILURES, LOGIN_FAILURE_WINDOW', 'failed logins before 429 (10 per 15m)'],
  ['AUDIT_RETENTION_DAYS', 'audit log entries kept, days (365)'],
  ['REPORTS_PER_HOUR, REPORT_AUTOHIDE_THRESHOLD', 'abuse reports per address per hour (10); distinct reporters that hide an image until reviewed (0 = off)'],
  ['REGISTRATION_VERIFY_FIRST', 'register answers 202 for new and taken addresses; the mailed link signs in (false)'],
  ['REGISTRATION', 'open | invite (an admin\'s invite code needed) | closed; the first account is always made (open)'],
  ['REQUIRE_ADMIN_2FA', 'admin routes refuse an admin without a second factor (false)'],
  ['WEBAUTHN_RP_ID, WEBAUTHN_ORIGIN, WEBAUTHN_RP_NAME', 'passkey domain, allowed page origins, shown name (from AUTH_SERVER_URL; imghost)'],
  ['WEBHOOK_ALLOW_PRIVATE, WEBHOOK_ALLOWED_NETWORKS', 'let webhooks reach private/loopback addresses (false); or only these CIDRs'],
  ['WEBHOOK_TIMEOUT, WEBHOOK_CONCURRENCY, WEBHOOK_POLL_INTERVAL_MS, WEBHOOK_RETRY_WINDOW', 'per delivery (10s); deliveries at once (8); queue poll (1000); retries for (1d)'],
  ['CLOUDFLARE_ZONE_ID, CLOUDFLARE_API_TOKEN, CLOUDFLARE_API_BASE_URL', 'purge images no longer served (deleted, private, hidden, blocked) from Cloudflare'],
  ['SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASS, SMTP_SECURE, SMTP_FROM', 'outgoing mail (unset: .eml files in DATA_DIR/mail)'],
  ['GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET', 'OAuth sign-in'],
  ['OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_SCOPES, OIDC_NAME', 'OpenID Connect sign-in: issuer (discovery), client, scopes (openid email profile), button label'],
  ['OIDC_TOKEN_AUTH_METHOD', 'client_secret_basic | client_secret_post | private_key_jwt (unset: basic unless the provider offers only post; the key with OIDC_CLIENT_KEY_FILE)'],
  ['OIDC_CLIENT_KEY_FILE', 'PEM private key (RSA, EC, Ed25519) signing token requests instead of a secret (private_key_jwt); public half at /api/v1/auth/oidc/jwks'],
  ['OIDC_CLIENT_NEXT_KEY_FILE', 'a key rollover\'s next key: published at /api/v1/auth/oidc/jwks beside OIDC_CLIENT_KEY_FILE\'s, not signing until it takes its place'],
  ['OIDC_LOGOUT_AT_PROVIDER', 'logging out of a session signed in through the provider ends its session there too (false)'],
  [
    'GOOGLE_AUTHORIZE_URL, GOOGLE_TOKEN_URL, GOOGLE_USERINFO_URL, GITHUB_AUTHORIZE_URL, GITHUB_TOKEN_URL, GITHUB_API_URL',
    'OAuth provider endpoints (tests)',
  ],
  ['NODE_ENV, LOG_LEVEL', 'development adds stack traces to 500s; debug | info | warn | error | silent (info)'],
]

export const HELP = `imghost ${pkg.version}: a self-hostable image host

Usage:
  imghost [serve]                 run the modules chosen by SERVER_MODE (default: all three)
  imghost migrate                 apply pending database migrations and exit
  imghost admin create --email E --username U [--first-name N] [--password P]
                                  create an administrator (password from stdin when not given)
  imghost admin promote --email E make an existing account an administrator
  imghost admin reset-2fa --email E
                                  turn two-factor sign-in off for an account that lost every
                                  factor (app, passkeys, recovery codes); ends its sessions
                                  and mails the owner
  imghost --help | --version

Environment (see the README for details):
${ENVIRONMENT.map(([names, meaning]) => `  ${names}\n      ${meaning}`).join('\n')}
`

export type Command =
  | { name: 'serve' }
  | { name: 'help' }
  | { name: 'version' }
  | { name: 'migrate' }
  | { name: 'admin-create'; options: Record<string, string> }
  | { name: 'admin-promote'; options: Record<string, string> }
  | { name: 'admin-reset-2fa'; options: Record<string, string> }

export class UsageError extends Error {}

/** `--name value` and `--name=value` pairs; anything else is a usage error. */
function parseOptions(args: string[], allowed: string[]): Record<string, string> {
  const options: Record<string, string> = {}
  for (let i = 0; i < args.length; i++) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(args[i]!)
    if (!match || !allowed.includes(match[1]!)) throw new UsageError(`unknown option ${args[i]}`)
    const value = match[2] ?? args[++i]
    if (value === undefined) throw new UsageError(`--${match[1]} needs a value`)
    options[match[1]!] = value
  }
  return options
}

/** The subcommands of `imghost admin`, named when one is missing or unknown. */
const ADMIN_SUBCOMMANDS = ['create', 'promote', 'reset-2fa'] as const

export function parseCommand(args: string[]): Command {
  const [first, second, ...rest] = args
  if (first === undefined || first === 'serve') {
    if (args.length > 1) throw new UsageError(`serve takes no arguments; configure it with environment variables`)
    return { name: 'serve' }
  }
  if (first === '--help' || first === '-h' || first === 'help') return { name: 'help' }
  if (first === '--version' || first === '-v') return { name: 'version' }
  if (first === 'migrate' && args.length === 1) return { name: 'migrate' }
  if (first === 'admin' && second === 'create') {
    const options = parseOptions(rest, ['email', 'username', 'first-name', 'password'])
    if (!options.email || !options.username) throw new UsageError('admin create needs --email and --username')
    return { name: 'admin-create', options }
  }
  if (first === 'admin' && second === 'promote') {
    const options = parseOptions(rest, ['email'])
    if (!options.email) throw new UsageError('admin promote needs --email')
    return { name: 'admin-promote', options }
  }
  if (first === 'admin' && second === 'reset-2fa') {
    const options = parseOptions(rest, ['email'])
    if (!options.email) throw new UsageError('admin reset-2fa needs --email')
    return { name: 'admin-reset-2fa', options }
  }
  if (first === 'admin') {
    const known = `${ADMIN_SUBCOMMANDS.slice(0, -1).join(', ')} or ${ADMIN_SUBCOMMANDS.at(-1)}`
    // `admin --email a@b.c` left the subcommand out too, rather than naming an odd one.
    const missing = second === undefined || second.startsWith('-')
    throw new UsageError(missing ? `admin needs a subcommand: ${known}` : `unknown admin subcommand ${second}: admin takes ${known}`)
  }
  throw new UsageError(`unknown command: ${args.join(' ')}`)
}

/** The environment, or one line naming the bad variable and exit 1. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  try {
    return parseConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`imghost: invalid configuration: ${error.message}`)
      process.exit(1)
    }
    throw error
  }
}

/** The commands the auth module runs (the composition root hands them over). */
export type AdminCommand = Extract<Command, { name: `admin-${string}` }>
export const isAdminCommand = (command: Command): command is AdminCommand => command.name.startsWith('admin-')

/** Runs a command that needs no feature module; the composition root (main.ts) runs the others. */
export async function runCommand(command: Exclude<Command, { name: 'serve' } | AdminCommand>): Promise<number> {
  switch (command.name) {
    case 'help':
      console.log(HELP)
      return 0
    case 'version':
      console.log(pkg.version)
      return 0
    case 'migrate':
      // Loaded here: src/main.ts imports this file to choose a command, and serving needs none of it.
      await (await import('./db/migrate-command.ts')).runMigrate(loadConfig())
      return 0
  }
}
