import { join } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import pkg from '../package.json'
import * as authRepo from '#modules/auth/repo.ts'
import { AuthModel } from '#modules/auth/model.ts'
import * as authService from '#modules/auth/service.ts'
import { type Config, ConfigError, parseConfig } from './config.ts'
import { openDatabase } from './db/index.ts'
import { SQL_DIR, migrate, readMigrations } from './db/migrate.ts'
import { embeddedMigrations } from './native.ts'

/**
 * The operator's command line: `imghost [serve]`, `migrate`, `admin create|promote`, `--help`.
 * Serving lives in main.ts; the other commands run here and exit.
 */

const ENVIRONMENT: [string, string][] = [
  ['SERVER_MODE', 'all | auth | upload | view | a comma list (default all)'],
  ['HOST, AUTH_PORT, UPLOAD_PORT, VIEW_PORT', 'listen address (0.0.0.0) and ports (5001, 5002, 5003; 0 = any free)'],
  ['AUTH_SERVER_URL, UPLOAD_SERVER_URL, VIEW_SERVER_URL', 'public base URLs used in responses (http://localhost:<port>)'],
  ['CDN_BASE_URL, FRONTEND_URL', 'CDN in front of the view server; web front end'],
  ['DATA_DIR', 'embedded database, local images, temp files, generated secret (./data)'],
  ['DATABASE_URL, DATABASE_POOL_MAX', 'PostgreSQL URL (unset: embedded PGlite in DATA_DIR/pg); pool size (10)'],
  ['JWT_SECRET, JWT_EXPIRES_IN', 'session signing secret, 32+ chars (unset: generated in DATA_DIR); lifetime (7d)'],
  ['COOKIE_SECRET, CRON_SECRET_TOKEN', 'seed compatibility; bearer token for POST /api/v1/cron/{job}'],
  ['METRICS_TOKEN', 'when set, GET /metrics needs Authorization: Bearer <token>'],
  ['TRUST_PROXY', 'believe X-Forwarded-For/-Proto from a proxy in front (false)'],
  ['S3_BUCKET, S3_ENDPOINT, S3_REGION', 'S3-compatible storage instead of DATA_DIR/objects'],
  ['S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_FORCE_PATH_STYLE', 'S3 credentials; path-style URLs (true with an endpoint)'],
  ['B2_APPLICATION_KEY_ID, B2_APPLICATION_KEY, B2_BUCKET_NAME, B2_S3_ENDPOINT', 'Backblaze names, aliases of the S3_* ones'],
  ['MAX_UPLOAD_BYTES, MAX_IMAGE_PIXELS, MAX_IMAGE_FRAMES', 'upload limits (20 MiB, 100 megapixels, 300 frames)'],
  ['PROCESSING_CONCURRENCY', 'images processed at once (cores)'],
  ['DELETION_GRACE_PERIOD', 'delay between a delete request and the deletion (7d)'],
  ['ANALYTICS_ENABLED, ANALYTICS_RETENTION_DAYS, STORE_VIEWER_IP', 'record views (true); raw views kept, days (90); keep viewer IPs (false)'],
  ['VIEW_CACHE_BYTES, VIEW_CACHE_MAX_OBJECT_BYTES, VIEW_DISK_CACHE_BYTES', "view server's memory cache (64 MiB, objects up to 512 KiB) and disk cache (1 GiB)"],
  ['ANONYMOUS_REQUESTS_PER_HOUR', 'per-IP budget without credentials (1000)'],
  ['LOGIN_MAX_FAILURES, LOGIN_FAILURE_WINDOW', 'failed logins before 429 (10 per 15m)'],
  ['REGISTRATION_VERIFY_FIRST', 'register answers 202 for new and taken addresses; the mailed link signs in (false)'],
  ['CLOUDFLARE_ZONE_ID, CLOUDFLARE_API_TOKEN, CLOUDFLARE_API_BASE_URL', 'purge deleted images from Cloudflare'],
  ['SMTP_HOST, SMTP_PORT, SMTP_USER, SMTP_PASS, SMTP_SECURE, SMTP_FROM', 'outgoing mail (unset: .eml files in DATA_DIR/mail)'],
  ['GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET', 'OAuth sign-in'],
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

async function readPasswordFromStdin(): Promise<string> {
  const text = await Bun.stdin.text()
  return text.replace(/\r?\n$/, '')
}

async function runMigrate(config: Config): Promise<void> {
  const db = await openDatabase({ url: config.databaseUrl, embeddedDir: join(config.dataDir, 'pg'), poolMax: 1 })
  try {
    const applied = await migrate(db.sql, (await embeddedMigrations()) ?? readMigrations(SQL_DIR))
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'the database is up to date')
  } finally {
    await db.close()
  }
}

async function runAdminCommand(command: Extract<Command, { name: 'admin-create' | 'admin-promote' }>, config: Config): Promise<void> {
  // The full context: registration goes through the same service (hashing, checks) as the API.
  const { createContext } = await import('./context.ts')
  const { ctx, close } = await createContext(config)
  try {
    if (command.name === 'admin-promote') {
      const user = await authRepo.findUserByIdentifier(ctx.sql, command.options.email!)
      if (!user || user.email.toLowerCase() !== command.options.email!.toLowerCase()) throw new UsageError(`no account with email ${command.options.email}`)
      await authRepo.updateUser(ctx.sql, user.id, { is_admin: true })
      console.log(`${user.username} <${user.email}> is now an administrator`)
      return
    }
    const input = {
      first_name: command.options['first-name'] ?? command.options.username!,
      username: command.options.username!,
      email: command.options.email!,
      password: command.options.password ?? (await readPasswordFromStdin()),
    }
    const problems = [...Value.Errors(AuthModel.register.body, input)].map((error) => `${error.path.slice(1) || 'input'}: ${error.message}`)
    if (problems.length) throw new UsageError(problems.join('; '))
    const { user } = await authService.register(ctx, input, { ip: '127.0.0.1', userAgent: 'imghost admin create' })
    // The session register() opened belongs to nobody: revoke it with the promotion.
    await ctx.sql.begin(async (tx) => {
      await authRepo.updateUser(tx, user.id, { is_admin: true, is_verified: true })
      await authRepo.revokeAllSessions(tx, user.id)
    })
    console.log(`created administrator ${user.username} <${user.email}> (${user.id})`)
  } finally {
    await close()
  }
}

/** Runs a non-serve command; returns the exit code. */
export async function runCommand(command: Exclude<Command, { name: 'serve' }>): Promise<number> {
  switch (command.name) {
    case 'help':
      console.log(HELP)
      return 0
    case 'version':
      console.log(pkg.version)
      return 0
    case 'migrate':
      await runMigrate(loadConfig())
      return 0
    case 'admin-create':
    case 'admin-promote':
      await runAdminCommand(command, loadConfig())
      return 0
  }
}
