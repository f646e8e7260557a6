/**
 * The audit log in words: what each recorded action means, and its detail as a person reads it
 * (no field names, codes, raw nulls or ISO dates). Every action the servers record is named here
 * (tests/web/audit-words.test.ts reads them out of src/ and modules/); one added later without
 * words is still shown as a sentence made from its name.
 */

const ACTIONS: Record<string, string> = {
  'auth.login': 'Signed in',
  'auth.login_failed': 'Failed sign-in',
  'auth.login_throttled': 'Sign-ins refused for a while after too many failures',
  'auth.logout': 'Signed out',
  'auth.sessions_revoked': 'Signed out everywhere',
  'auth.provider_logout': 'Signed out by the sign-in provider',
  'auth.session_ended': 'One session signed out',
  'auth.sessions_ended': 'Every other session signed out',
  'auth.password_changed': 'Password changed',
  'auth.password_reset': 'Password reset by mailed link',
  'auth.email_change_requested': 'Email address change asked for (waiting for the new address)',
  'auth.email_change_cancelled': 'Pending email address change cancelled',
  'auth.email_changed': 'Email address changed (new address confirmed)',
  'auth.2fa_enabled': 'Two-factor authentication turned on',
  'auth.2fa_disabled': 'Two-factor authentication turned off',
  'auth.2fa_failed': 'Failed two-factor check',
  'auth.recovery_code_used': 'Recovery code used',
  'auth.recovery_codes_regenerated': 'New recovery codes made',
  'auth.passkey_added': 'Passkey added',
  'auth.passkey_removed': 'Passkey removed',
  'auth.trusted_devices_forgotten': 'Remembered devices forgotten',
  'account.created': 'Account created',
  'email.verified': 'Email address verified',
  'account.deletion_scheduled': 'Account deletion scheduled',
  'account.deletion_cancelled': 'Account deletion cancelled',
  'account.deleted': 'Account and its images deleted, as scheduled',
  'key.created': 'API key created',
  'key.revoked': 'API key revoked',
  'admin.user_blocked': 'Account blocked by an administrator',
  'admin.user_unblocked': 'Account unblocked by an administrator',
  'admin.user_promoted': 'Made an administrator',
  'admin.user_demoted': 'No longer an administrator',
  'admin.plan_changed': 'Plan changed by an administrator',
  'admin.upload_limit_changed': 'Daily upload limit changed by an administrator',
  'admin.user_deleted': 'Account deleted by an administrator',
  'admin.job_run': 'Job run',
  'admin.invite_created': 'Invitation created',
  'admin.invite_revoked': 'Invitation revoked',
  'admin.report_dismissed': 'Report dismissed',
  'admin.report_removed': 'Reported content removed',
  'admin.report_uploader_blocked': 'Uploader blocked after a report',
  'moderation.target_hidden': 'Content hidden after reports, pending review',
}

const AREAS: Record<string, string> = {
  auth: 'Sign-in and security',
  account: 'Account',
  email: 'Email address',
  key: 'API keys',
  admin: 'Administration',
  moderation: 'Moderation',
}

/** The words for every action named here (for the completeness test). */
export const knownActions = () => Object.keys(ACTIONS)

/** What `action` means; one without words of its own reads from its name ("Account: export made"). */
export function actionLabel(action: string): string {
  const known = ACTIONS[action]
  if (known) return known
  const dot = action.indexOf('.')
  const area = dot > 0 ? action.slice(0, dot) : ''
  const verb = (dot > 0 ? action.slice(dot + 1) : action).replace(/[._]+/g, ' ').trim()
  const sentence = verb ? verb[0]!.toUpperCase() + verb.slice(1) : 'Other event'
  return AREAS[area] ? `${AREAS[area]}: ${sentence.toLowerCase()}` : sentence
}

const PROVIDERS: Record<string, string> = { google: 'Google', github: 'GitHub', oidc: 'single sign-on' }

const FACTORS: Record<string, string> = {
  password: 'password',
  totp: 'authenticator code',
  recovery_code: 'recovery code',
  passkey: 'passkey',
  trusted_device: 'remembered device',
  verification_link: 'email verification link',
  ...PROVIDERS,
}

/** A sign-in method as recorded ("password+totp", "google+trusted_device") in words. */
function methodWords(method: string, action: string): string {
  // Turning 2FA on names the factor set up, not a way of signing in.
  if (action === 'auth.2fa_enabled' && method === 'totp') return 'authenticator app'
  const parts = method.split('+').map((part) => FACTORS[part] ?? part.replace(/_/g, ' '))
  return parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0]!
}

const STAGES: Record<string, string> = {
  login: 'signing in',
  totp_confirm: 'setting up the authenticator app',
  disable: 'turning two-factor authentication off',
  recovery_codes: 'making new recovery codes',
  passkey_remove: 'removing a passkey',
}

const REASONS: Record<string, string> = {
  unknown_account: 'no such account',
  wrong_password: 'wrong password',
  password: 'wrong password',
  account_blocked: 'the account is blocked',
  logout_all: 'signed out everywhere',
}

const VIA: Record<string, string> = {
  mailed_link: 'a mailed link',
  invite: 'an invitation',
  admin: 'an administrator',
  cron: 'the schedule',
  report: 'a report',
}

/** Who acted where no account did: the server's operator (imghost admin …), or the scheduled clean-up. */
const BY: Record<string, string> = { operator: 'the server’s operator', schedule: 'the scheduled clean-up' }

const JOB_STATUS: Record<string, string> = { succeeded: 'done', failed: 'failed', running: 'running', skipped: 'skipped' }
const CHANNELS: Record<string, string> = { back: 'the provider’s server', front: 'the provider’s page in the browser' }
const BUDGETS: Record<string, string> = { account: 'this account', address: 'this network address' }

const formatDate = (value: string) => new Date(value).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/

/** Any value as words: a date in the person's own time, a list as "a, b", null as "none". */
function valueWords(value: unknown): string {
  if (value === null || value === undefined) return 'none'
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  if (typeof value === 'string') return ISO_INSTANT.test(value) ? formatDate(value) : value
  if (Array.isArray(value)) return value.map(valueWords).join(', ') || 'none'
  if (typeof value === 'object') return Object.entries(value).map(([key, inner]) => `${key.replace(/_/g, ' ')} ${valueWords(inner)}`).join(', ')
  return String(value)
}

const wordsFrom = (words: Record<string, string>) => (value: unknown) => (typeof value === 'string' ? (words[value] ?? value.replace(/_/g, ' ')) : valueWords(value))

const seconds = (value: unknown) => {
  if (typeof value !== 'number') return valueWords(value)
  if (value % 3600 === 0) return `${value / 3600} hour${value === 3600 ? '' : 's'}`
  if (value % 60 === 0) return `${value / 60} minute${value === 60 ? '' : 's'}`
  return `${value} seconds`
}

/**
 * Each detail a person can use: its label and how its value reads (`action`: where the same key
 * means different things). Ids (`*_id`, `sid`) are left out: nobody can look them up on a page.
 */
const DETAILS: Record<string, { label: string | ((action: string) => string); value?: (value: unknown, action: string) => string }> = {
  method: { label: 'method', value: (value, action) => (typeof value === 'string' ? methodWords(value, action) : valueWords(value)) },
  stage: { label: 'step', value: wordsFrom(STAGES) },
  reason: { label: 'reason', value: wordsFrom(REASONS) },
  remember_device: { label: 'device remembered' },
  budget: { label: 'limit of', value: wordsFrom(BUDGETS) },
  limit: { label: 'failures allowed' },
  window_seconds: { label: 'within', value: seconds },
  provider: { label: 'provider', value: wordsFrom(PROVIDERS) },
  channel: { label: 'told by', value: wordsFrom(CHANNELS) },
  sessions: { label: 'sessions ended' },
  removed_passkeys: { label: 'passkeys removed' },
  by: { label: 'by', value: wordsFrom(BY) },
  sign_in_unlocked: { label: 'sign-in lock lifted' },
  left: { label: 'recovery codes left' },
  current: { label: 'session', value: (value) => (value ? 'the one in use' : 'another one') },
  count: { label: (action) => (action === 'auth.trusted_devices_forgotten' ? 'devices' : 'sessions') },
  name: { label: 'name' },
  via: { label: 'through', value: wordsFrom(VIA) },
  delete_scheduled_for: { label: 'deletion on' },
  prefix: { label: 'starts with' },
  scopes: { label: 'allowed to', value: (value) => (Array.isArray(value) && value.length ? valueWords(value) : 'everything') },
  expires_at: { label: 'expires', value: (value) => (value === null ? 'never' : valueWords(value)) },
  allowed_ips: { label: 'allowed addresses', value: (value) => (value === null || (Array.isArray(value) && !value.length) ? 'any' : valueWords(value)) },
  email: { label: 'email' },
  username: { label: 'username' },
  plan_type: { label: 'plan' },
  job: { label: 'job' },
  status: { label: 'outcome', value: wordsFrom(JOB_STATUS) },
  target_type: { label: 'what' },
  resolved: { label: 'reports closed' },
  unhidden: { label: 'shown again' },
  reporters: { label: 'reporters' },
  threshold: { label: 'hidden at', value: (value) => `${valueWords(value)} reports` },
}

const HIDDEN = (key: string) => key === 'sid' || key.endsWith('_id')

/** What an action's empty value (null) means in a change: no limit of its own is the plan's. */
const NO_VALUE: Record<string, string> = { 'admin.upload_limit_changed': 'the plan’s own' }

/**
 * An event's detail in words. A change (`from` and `to`, which the database hands back in either
 * order) reads before and after: `1000 → the plan’s own`, not `to: null · from: 1000`.
 */
export function detailText(action: string, { from, to, ...rest }: Record<string, unknown>): string {
  const changed = from !== undefined && to !== undefined
  const shown = (value: unknown) => (value === null ? (NO_VALUE[action] ?? 'none') : valueWords(value))
  const others = Object.entries(changed ? rest : { from, to, ...rest })
    .filter(([key, value]) => value !== undefined && !HIDDEN(key))
    .map(([key, value]) => {
      const known = DETAILS[key]
      const label = known ? (typeof known.label === 'string' ? known.label : known.label(action)) : key.replace(/_/g, ' ')
      return `${label}: ${known?.value ? known.value(value, action) : valueWords(value)}`
    })
  return [...(changed ? [`${shown(from)} → ${shown(to)}`] : []), ...others].join(' · ')
}
