import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError } from '../api.ts'
import { ActionButton, Form, SubmitButton } from '../forms.tsx'
import { BandwidthLimitNotice, type BandwidthState } from '../bandwidth-notice.tsx'
import { resendVerificationLink } from '../verify-notice.tsx'
import {
  Field, firstNameRule, type FormWords, Meter, nameRule, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, PageTitle, passwordLengthRule, Status, type User, formatBytes, formatDate, messageOf, USERNAME_HINT, USERNAME_PATTERN, USERNAME_RULE, useFieldRefusal, useLoad, useRefocus, useSession,
} from '../ui.tsx'

interface Quota extends BandwidthState {
  plan: string
  uploads_today: number
  upload_limit_per_day: number
  storage_used: number
  storage_limit: number
  bandwidth_used_month: number
  bandwidth_limit_month: number
  resets_at: string
}

/**
 * A first look at a line: letters (any script), digits, dots and hyphens, after an optional `*.`.
 * The API checks the rest (src/users/referrers.ts: `a..b`, `-a.com`) and names the entry it refuses.
 */
const HOST = /^(\*\.)?[\p{L}\p{N}.-]{1,253}$/u
const MAX_REFERRERS = 100
const REFERRERS_LABEL = 'Sites allowed to embed your images'

/** The hosts typed, one per line (commas also separate), each with the line it is on, counted from 1 as the person sees them. */
function referrersOf(text: string) {
  return text.split('\n').flatMap((row, index) =>
    row.split(',').map((part) => ({ host: part.trim().toLowerCase(), line: index + 1 })).filter((entry) => entry.host),
  )
}

function referrerProblem(entries: { host: string; line: number }[]): string | null {
  if (entries.length > MAX_REFERRERS) return `${REFERRERS_LABEL}: at most ${MAX_REFERRERS} sites (there are ${entries.length}).`
  const bad = entries.filter((entry) => !HOST.test(entry.host)).map((entry) => `line ${entry.line} (“${entry.host}”)`)
  if (!bad.length) return null
  const list = bad.length > 1 ? `${bad.slice(0, -1).join(', ')} and ${bad.at(-1)} are not host names` : `${bad[0]} is not a host name`
  return `${REFERRERS_LABEL}: ${list}. Write one host per line, with letters, digits, dots and hyphens only, like example.com or bücher.de.`
}

/** What the API may refuse in the password form; `typed`: the new password, whose refusal says what is wrong with it. */
const passwordWords = (typed: string): FormWords => ({
  codes: {
    invalid_current_password: 'Current password: that is not your current password.',
    current_password_required: 'Current password: enter it to choose a new one.',
  },
  fields: {
    password: () => passwordLengthRule('New password', typed),
    current_password: () => `Current password: at most ${PASSWORD_MAX_LENGTH} characters.`,
  },
})

/** What the API may refuse in the profile form, as the form labels it; `values`: what was typed. */
const profileWords = (values: Record<string, string>): FormWords => ({
  codes: {
    invalid_current_password: 'Current password: that is not your current password.',
    current_password_required: 'Current password: enter it to change your email address.',
  },
  fields: { first_name: () => firstNameRule(values.first_name), last_name: () => nameRule('Last name', values.last_name), username: () => USERNAME_RULE },
})

/** Refusals of the profile that are about one field (by its `name`), as at sign-up: the value typed there is taken, or wrong. */
const PROFILE_FIELD_OF: Record<string, string> = { username_taken: 'username', email_taken: 'email', invalid_current_password: 'current_password' }

/** The account as its own API shows it: a new address waits for its mailed link (PUT /api/v1/account). */
type OwnAccount = User & { pending_email?: string | null; pending_email_expires_at?: string | null }
interface PendingEmail {
  email: string
  expiresAt: string | null
}
const pendingOf = (account: OwnAccount): PendingEmail | null =>
  account.pending_email ? { email: account.pending_email, expiresAt: account.pending_email_expires_at ?? null } : null

const values = (event: Event) => Object.fromEntries(new FormData(event.currentTarget as HTMLFormElement)) as Record<string, string>

function Usage() {
  const { api } = useSession()
  const usage = useLoad(async () => {
    const { data, headers } = await api.remote<Quota>('upload', 'GET', '/upload/quota')
    const limit = Number(headers.get('ratelimit-limit') ?? 0)
    const remaining = Number(headers.get('ratelimit-remaining') ?? 0)
    return { quota: data, requests: { limit, used: Math.max(0, limit - remaining) } }
  })
  // The status line stays on the page once the figures come, so Try again's focus can go to the page's heading.
  return (
    <>
      <Status error={usage.error} retry={usage} retryWhat="your usage" />
      {usage.data ? <UsageMeters {...usage.data} /> : usage.error ? null : <p>Loading usage…</p>}
    </>
  )
}

function UsageMeters({ quota, requests }: { quota: Quota; requests: { limit: number; used: number } }) {
  return (
    <div class="meters">
      <p>Plan: <strong>{quota.plan}</strong>. The daily count starts over {formatDate(quota.resets_at)}.</p>
      <Meter label="Uploads today" used={quota.uploads_today} limit={quota.upload_limit_per_day} />
      <Meter label="Storage" used={quota.storage_used} limit={quota.storage_limit} format={formatBytes} />
      <Meter label="Bandwidth this month" used={quota.bandwidth_used_month} limit={quota.bandwidth_limit_month} format={formatBytes} />
      <BandwidthLimitNotice state={quota} />
      {requests.limit ? <Meter label="API requests this hour" used={requests.used} limit={requests.limit} /> : null}
    </div>
  )
}

export function AccountPage() {
  const { api, user, setUser } = useSession()
  const [status, setStatus] = useState<Record<string, { error?: string; message?: string }>>({})
  // Where the focus goes once an answer takes away what had it (an address change asked for, then its status).
  const refocus = useRefocus(status)
  const profileRefusal = useFieldRefusal('profile-error', PROFILE_FIELD_OF)
  // The password form's refusals are each about one field: the current password, the new one, or the repeat that differs.
  const passwordRefusal = useFieldRefusal('password-error', { invalid_current_password: 'current_password', current_password_required: 'current_password' })
  // A referrer list refused (a line that is no host) is about its one field, as the other forms' refusals are.
  const settingsRefusal = useFieldRefusal('settings-error', { invalid_referrer: 'allowed_referrers' })
  const clearRefusals = () => [profileRefusal, passwordRefusal, settingsRefusal].forEach((refusal) => refusal.clear())
  // Where the focus goes when an action about the address takes away what had it (the Current password field, Cancel the change).
  const profileStatus = useRef<HTMLDivElement>(null)
  const pendingStatus = useRef<HTMLDivElement>(null)
  const [emailDraft, setEmailDraft] = useState<string | undefined>(undefined)
  // The session's user does not say whether an email change waits: the account's own answer does.
  const [pendingEmail, setPendingEmail] = useState<PendingEmail | null>(null)
  const showAccount = (account: OwnAccount) => {
    setUser(account)
    setPendingEmail(pendingOf(account))
  }
  useEffect(() => {
    if (!user) return
    api.auth<{ user: OwnAccount }>('GET', '/api/v1/account').then(({ user: account }) => showAccount(account), () => {})
  }, [user?.id])
  if (!user) return null
  // The address is where password resets go: the server asks for the password to change it.
  const emailChanging = user.provider === 'form' && emailDraft !== undefined && emailDraft.trim().toLowerCase() !== user.email.toLowerCase()
  /**
   * One status at a time, as on the album page: a form's answer replaces what another form said,
   * and an earlier refusal's marks go from its field (a wrong current password stayed invalid and
   * described beside "Settings saved.").
   */
  const say = (part: string, value: { error?: string; message?: string }) => {
    clearRefusals()
    setStatus({ [part]: value })
  }
  /**
   * PUT /api/v1/account, then the account saved (null when refused). `refused`: told of a refusal
   * first, to send the focus to the field at fault; the sentence it may return replaces the refusal's own.
   * `show`: where the refusal is said, if not in the part's own status.
   */
  const save = async (
    part: string,
    body: Record<string, unknown>,
    message: string | ((account: OwnAccount) => string),
    words: FormWords = {},
    refused?: (error: unknown) => Promise<string | undefined> | string | undefined | void,
    show: (error: unknown, text: string) => void = (_error, text) => say(part, { error: text }),
  ): Promise<OwnAccount | null> => {
    try {
      const answer = await api.auth<{ user: OwnAccount }>('PUT', '/api/v1/account', body)
      showAccount(answer.user)
      say(part, { message: typeof message === 'function' ? message(answer.user) : message })
      return answer.user
    } catch (e) {
      show(e, (await refused?.(e)) ?? messageOf(e, words))
      return null
    }
  }

  /** The Email box shows `account`'s address again (set outright: once typed in, a box no longer follows its default). */
  const showAddress = (form: HTMLFormElement, account: OwnAccount) => {
    const email = form.elements.namedItem('email') as HTMLInputElement | null
    if (email) email.value = account.email
  }
  /** The account changed under the page (an address confirmed in another tab): it shows the account as it is now. */
  const changedElsewhere = (account: OwnAccount) => `Your address changed meanwhile (in another tab or window): it is now ${account.email}.`
  const profile = async (event: Event) => {
    const form = event.currentTarget as HTMLFormElement
    const v = values(event)
    const shown = user
    say('profile', {})
    // Only what the person changed: an unchanged field sent back could undo a change made
    // elsewhere, and an address the account no longer has reads to the server as a new one.
    const changes: Record<string, unknown> = {}
    if (v.first_name !== shown.first_name) changes.first_name = v.first_name
    if ((v.last_name || null) !== (shown.last_name || null)) changes.last_name = v.last_name || null
    if (v.username !== shown.username) changes.username = v.username
    if (emailChanging) Object.assign(changes, { email: v.email, current_password: v.current_password })
    if (!Object.keys(changes).length) return say('profile', { message: 'Nothing changed: there is nothing to save.' })
    // A new address is only asked for: the server mails it a link, and the account keeps its address until it is opened.
    const saved = (account: OwnAccount) => {
      if (account.email.toLowerCase() !== shown.email.toLowerCase() && !emailChanging) return `Profile saved. ${changedElsewhere(account)}`
      // The Current password field goes with the change asked for: the focus goes to the sentence saying where the link went.
      if (emailChanging) refocus(() => profileStatus.current, { fromHere: true })
      return emailChanging && account.pending_email ? `Profile saved. We sent a link to ${account.pending_email}: your address changes when you open it.` : 'Profile saved.'
    }
    const refused = async (e: unknown) => {
      const code = e instanceof ApiError ? e.code : ''
      // Refused about the address: the account may have changed under the page. Shown as it is now, rather than asking for a field the form does not show.
      const now = code === 'current_password_required' || code === 'email_taken' ? await loadAccount() : null
      if (!now || now.email.toLowerCase() === shown.email.toLowerCase()) return undefined
      setEmailDraft(undefined)
      showAddress(form, now)
      return `Nothing was saved. ${changedElsewhere(now)} Check the form and save again.`
    }
    // A field at fault (a username taken, a wrong password) takes the focus, marked invalid and described by the refusal.
    const show = (e: unknown, text: string) => {
      say('profile', {})
      profileRefusal.refuse(form, e, text)
    }
    const account = await save('profile', changes, saved, profileWords(v), refused, show)
    if (!account) return
    setEmailDraft(undefined)
    const field = form.elements.namedItem('current_password') as HTMLInputElement | null
    if (field) field.value = ''
    // The field shows the account's address again; the address asked for is shown as waiting.
    showAddress(form, account)
  }
  const loadAccount = () =>
    api.auth<{ user: OwnAccount }>('GET', '/api/v1/account').then(
      ({ user: account }) => (showAccount(account), account),
      () => null,
    )
  const pendingAction = async (method: 'POST' | 'DELETE', path: string, done: string) => {
    // One current status: the answer replaces the profile's ("We sent a link to …") rather than sitting beside it.
    const sayPending = (value: { error?: string; message?: string }) => say('pending', value)
    // Not the status itself yet: its change is what the focus below waits for.
    clearRefusals()
    // Cancelled (or settled elsewhere), the panel goes with the button pressed: the focus goes to the answer.
    refocus(() => pendingStatus.current)
    try {
      const answer = await api.auth<{ user: OwnAccount; message?: string }>(method, path)
      showAccount(answer.user)
      sayPending({ message: answer.message ?? done })
    } catch (e) {
      // Expired, cancelled or confirmed meanwhile (another tab): the page shows what holds now, the Email box too.
      const now = await loadAccount()
      const form = document.querySelector<HTMLFormElement>('form[aria-labelledby="h-profile"]')
      if (now && form && emailDraft === undefined) showAddress(form, now)
      const changed = now !== null && now.email.toLowerCase() !== user.email.toLowerCase()
      sayPending({ error: changed ? `${messageOf(e)} ${changedElsewhere(now)}` : messageOf(e) })
    }
  }
  const resendChange = () => pendingAction('POST', '/api/v1/account/pending-email/resend', 'A new link was sent.')
  const cancelChange = () => pendingAction('DELETE', '/api/v1/account/pending-email', 'The change was cancelled: your address stays as it is.')
  const password = async (event: Event) => {
    const form = event.currentTarget as HTMLFormElement
    const v = values(event)
    say('password', {})
    if (v.password !== v.confirm) return passwordRefusal.refuseAt(form, 'Repeat the new password: the two new passwords differ.', 'confirm')
    // The field the refusal is about, not the one Enter was pressed in ("Repeat the new password"), marked and described by it.
    const show = (e: unknown, text: string) => passwordRefusal.refuse(form, e, text)
    // The server revokes every other session and sets a fresh cookie for this one.
    if (await save('password', { current_password: v.current_password, password: v.password }, 'Password changed. Every other session was signed out.', passwordWords(v.password ?? ''), undefined, show)) {
      api.reset()
      form.reset()
    }
  }
  const settings = (event: Event) => {
    const form = event.currentTarget as HTMLFormElement
    const entries = referrersOf(String(new FormData(form).get('allowed_referrers') ?? ''))
    const problem = referrerProblem(entries)
    say('settings', {})
    // The list's field takes the focus, marked invalid and described by the refusal, as the keys' IP ranges do.
    if (problem) return settingsRefusal.refuseAt(form, problem, 'allowed_referrers')
    const isPublic = (form.elements.namedItem('default_is_public') as HTMLInputElement).checked
    const publicProfile = (form.elements.namedItem('public_profile') as HTMLInputElement).checked
    // The server's rule is stricter than the one above (`a..b` passes it): its answer names each
    // entry it refused (`details`), which the form names by the line typed.
    const words: FormWords = {
      fields: {
        'settings.allowed_referrers': ([index]) => {
          const entry = index === undefined ? undefined : entries[Number(index)]
          if (!entry) return `${REFERRERS_LABEL}: at most ${MAX_REFERRERS} sites.`
          return `${REFERRERS_LABEL}: line ${entry.line} (“${entry.host}”) is not a host name. Write one like example.com or *.example.com.`
        },
      },
    }
    const body = { settings: { allowed_referrers: entries.map((entry) => entry.host), default_is_public: isPublic, public_profile: publicProfile } }
    return save('settings', body, 'Settings saved.', words, undefined, (e, text) => settingsRefusal.refuse(form, e, text))
  }
  const deletion = async (cancel: boolean) => {
    if (!cancel && !confirm('Schedule the deletion of your account and every image?')) return
    try {
      await api.auth(cancel ? 'DELETE' : 'POST', '/api/v1/account/delete-request')
      setUser((await api.auth<{ user: User }>('GET', '/api/v1/account')).user)
      say('delete', { message: cancel ? 'Deletion cancelled.' : 'Deletion scheduled.' })
    } catch (e) {
      say('delete', { error: messageOf(e) })
    }
  }
  const resend = async () => say('verify', await resendVerificationLink(api))

  return (
    <section class="account">
      <PageTitle>Account</PageTitle>
      <div class="panels">
        <Form class="panel" draft="profile" onSubmit={profile} aria-labelledby="h-profile">
          <h2 id="h-profile">Profile</h2>
          <div class="row">
            <Field label="First name" name="first_name" defaultValue={user.first_name} required errorId={profileRefusal.errorOf('first_name')} />
            <Field label="Last name" name="last_name" defaultValue={user.last_name ?? ''} errorId={profileRefusal.errorOf('last_name')} />
          </div>
          <Field label="Username" name="username" defaultValue={user.username} required minLength={3} maxLength={32} pattern={USERNAME_PATTERN} hint={USERNAME_HINT} errorId={profileRefusal.errorOf('username')} />
          <Field label="Email" name="email" type="email" defaultValue={user.email} required errorId={profileRefusal.errorOf('email')} onInput={(event) => setEmailDraft((event.currentTarget as HTMLInputElement).value)} />
          {emailChanging ? (
            <Field label="Current password" id="f-email-current-password" name="current_password" type="password" autocomplete="current-password" required maxLength={PASSWORD_MAX_LENGTH} hint="Needed to change your email address." errorId={profileRefusal.errorOf('current_password')} />
          ) : null}
          <p class="small muted">
            {user.is_verified ? 'Your address is verified.' : <>Your address is not verified. <ActionButton class="link" onClick={resend}>Send the link again</ActionButton></>}
          </p>
          <Status {...status.verify} />
          {pendingEmail ? (
            <div class="warning pending-email" data-testid="pending-email">
              <p>
                Waiting for confirmation of <strong>{pendingEmail.email}</strong>: open the link we sent there
                {pendingEmail.expiresAt ? <> before {formatDate(pendingEmail.expiresAt)}</> : null}. Until then your address stays {user.email}.
              </p>
              <p>
                <ActionButton class="link" busyLabel="Sending…" onClick={resendChange}>Resend the link</ActionButton>
                {' · '}
                <ActionButton class="link" busyLabel="Cancelling…" onClick={cancelChange}>Cancel the change</ActionButton>
              </p>
            </div>
          ) : null}
          <Status {...status.pending} focusRef={pendingStatus} />
          <Status error={profileRefusal.error} message={status.profile?.message} errorId="profile-error" focusRef={profileStatus} />
          <SubmitButton busyLabel="Saving…">Save profile</SubmitButton>
        </Form>
        <Form class="panel" onSubmit={password} aria-labelledby="h-password">
          <h2 id="h-password">Password</h2>
          <Field label="Current password" name="current_password" type="password" autocomplete="current-password" required={user.provider === 'form'} maxLength={PASSWORD_MAX_LENGTH} errorId={passwordRefusal.errorOf('current_password')} />
          <Field label="New password" name="password" type="password" autocomplete="new-password" required minLength={PASSWORD_MIN_LENGTH} maxLength={PASSWORD_MAX_LENGTH} errorId={passwordRefusal.errorOf('password')} />
          <Field label="Repeat the new password" name="confirm" type="password" autocomplete="new-password" required minLength={PASSWORD_MIN_LENGTH} maxLength={PASSWORD_MAX_LENGTH} errorId={passwordRefusal.errorOf('confirm')} />
          <Status error={passwordRefusal.error} message={status.password?.message} errorId="password-error" />
          <SubmitButton busyLabel="Changing…">Change password</SubmitButton>
        </Form>
        <Form class="panel" draft="settings" onSubmit={settings} aria-labelledby="h-settings">
          <h2 id="h-settings">Sharing</h2>
          <div class="field">
            <label for="f-referrers">Sites allowed to embed your images</label>
            <textarea
              id="f-referrers"
              name="allowed_referrers"
              rows={3}
              aria-invalid={settingsRefusal.errorOf('allowed_referrers') ? true : undefined}
              aria-describedby={[settingsRefusal.errorOf('allowed_referrers'), 'f-referrers-hint'].filter(Boolean).join(' ')}
            >
              {user.settings.allowed_referrers.join('\n')}
            </textarea>
            <small id="f-referrers-hint">One host per line (example.com also allows its subdomains). Empty: any site.</small>
          </div>
          <label class="check">
            <input type="checkbox" name="default_is_public" defaultChecked={user.settings.default_is_public} /> New uploads are public
          </label>
          <div class="check-field">
            <label class="check">
              <input type="checkbox" name="public_profile" defaultChecked={user.settings.public_profile ?? false} aria-describedby="f-profile-hint" /> Public profile
            </label>
            <small id="f-profile-hint" class="muted small">
              Lists your public images and public albums at{' '}
              <a href={`${api.config.view_url}/u/${encodeURIComponent(user.username)}`}>{`${api.config.view_url}/u/${user.username}`}</a>.
            </small>
          </div>
          <Status error={settingsRefusal.error} message={status.settings?.message} errorId="settings-error" />
          <SubmitButton busyLabel="Saving…">Save settings</SubmitButton>
        </Form>
        <div class="panel">
          <h2>Usage</h2>
          <Usage />
        </div>
        <div class="panel">
          <h2>Your data</h2>
          <p>A ZIP of your account, keys (never the keys themselves), images and their statistics.</p>
          <a class="button secondary" href="/api/v1/account/export" download>Export my data</a>
          <h2>Delete account</h2>
          {user.delete_scheduled_for ? (
            <>
              <p class="warning">Your account and every image will be deleted on <strong>{formatDate(user.delete_scheduled_for)}</strong>.</p>
              <ActionButton onClick={() => deletion(true)}>Cancel the deletion</ActionButton>
            </>
          ) : (
            <>
              <p>Deletion happens after a grace period, during which you can cancel it.</p>
              <ActionButton class="danger" onClick={() => deletion(false)}>Delete my account</ActionButton>
            </>
          )}
          <Status {...status.delete} />
        </div>
      </div>
    </section>
  )
}
