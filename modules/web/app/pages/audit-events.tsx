import { formatDate } from '../ui.tsx'

/** What each recorded action means, in words; unknown ones are shown by name. */
const LABELS: Record<string, string> = {
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
  'account.deletion_scheduled': 'Account deletion scheduled',
  'account.deletion_cancelled': 'Account deletion cancelled',
  'admin.user_blocked': 'Account blocked by an administrator',
  'admin.user_unblocked': 'Account unblocked by an administrator',
  'admin.user_promoted': 'Made an administrator',
  'admin.user_demoted': 'No longer an administrator',
  'admin.plan_changed': 'Plan changed by an administrator',
  'admin.upload_limit_changed': 'Daily upload limit changed by an administrator',
  'admin.job_run': 'Job run by hand',
  'admin.user_deleted': 'Account deleted by an administrator',
  'admin.report_dismissed': 'Report dismissed',
  'admin.report_removed': 'Reported content removed',
  'admin.report_uploader_blocked': 'Uploader blocked after a report',
  'moderation.target_hidden': 'Content hidden after reports, pending review',
  // Recorded by other features (2FA, keys, invites); named here so they read the same way.
  'auth.2fa_enabled': 'Two-factor authentication turned on',
  'auth.2fa_disabled': 'Two-factor authentication turned off',
  'auth.trusted_devices_forgotten': 'Remembered devices forgotten',
  'key.created': 'API key created',
  'key.revoked': 'API key revoked',
  'admin.invite_created': 'Invitation created',
}

export const actionLabel = (action: string) => LABELS[action] ?? action

export interface AuditEvent {
  id: number
  action: string
  user: { id: string; username: string | null } | null
  actor: { id: string; username: string | null } | null
  ip: string | null
  user_agent: string | null
  detail: Record<string, unknown>
  created_at: string
}

/** A list as words ("upload, albums"), not JSON, so it wraps between its items (the table keeps words whole). */
const valueText = (value: unknown): string =>
  Array.isArray(value) ? value.map(valueText).join(', ') || 'none' : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)

/** What an action's empty value (null) means: no limit of its own is the plan's. */
const NO_VALUE: Record<string, string> = { 'admin.upload_limit_changed': 'the plan’s own' }

/**
 * An event's detail in words. A change (`from` and `to`, which the database hands back in either
 * order) reads before and after: `1000 → the plan’s own`, not `to: null · from: 1000`.
 */
function detailText(action: string, { from, to, ...rest }: Record<string, unknown>) {
  const changed = from !== undefined && to !== undefined
  const shown = (value: unknown) => (value === null ? (NO_VALUE[action] ?? 'none') : valueText(value))
  const others = Object.entries(changed ? rest : { from, to, ...rest })
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key.replace(/_/g, ' ')}: ${valueText(value)}`)
  return [...(changed ? [`${shown(from)} → ${shown(to)}`] : []), ...others].join(' · ')
}

/** The events as a table; `showUser` adds the account column (the admin page). */
export function AuditTable({ events, showUser = false }: { events: AuditEvent[]; showUser?: boolean }) {
  return (
    <div class="table-wrap">
      <table class="audit">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">What</th>
            {showUser ? <th scope="col">Account</th> : null}
            <th scope="col">By</th>
            <th scope="col">From</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <tr data-testid="audit-row" data-action={event.action}>
              <td class="nowrap">{formatDate(event.created_at)}</td>
              <td>
                <strong>{actionLabel(event.action)}</strong>
                <br />
                <code class="small">{event.action}</code>
                {Object.keys(event.detail).length ? <><br /><span class="small muted">{detailText(event.action, event.detail)}</span></> : null}
              </td>
              {showUser ? <td>{event.user ? (event.user.username ?? event.user.id) : '–'}</td> : null}
              <td>{event.actor ? (event.actor.username ?? event.actor.id) : <span class="muted">system / unknown</span>}</td>
              <td>
                {event.ip ?? '–'}
                {event.user_agent ? <><br /><span class="small muted ua">{event.user_agent}</span></> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
