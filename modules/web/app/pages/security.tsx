import { startAuthentication } from '@simplewebauthn/browser'
import { useEffect, useRef, useState } from 'preact/hooks'
import { renderSVG } from 'uqr'
import { ActionButton, Form, SubmitButton } from '../forms.tsx'
import { useRouteContext } from '../router.tsx'
import { AUTHENTICATOR_CODE_RULE, CopyButton, Field, type FormWords, PASSWORD_MAX_LENGTH, PageTitle, Status, authenticatorCode, messageOf, useFieldRefusal, useLoad, useRefocus, useSession, wrongPassword } from '../ui.tsx'
import { SessionsPanel, TrustedDevicesPanel } from './security-devices.tsx'
import { PasskeysPanel, passkeyError } from './security-passkeys.tsx'

export interface TwoFactorStatus {
  enabled: boolean
  totp: boolean
  passkeys: number
  recovery_codes_left: number
  required: boolean
}

const values = (event: Event) => Object.fromEntries(new FormData(event.currentTarget as HTMLFormElement)) as Record<string, string>

/**
 * Until the codes are copied or downloaded, leaving the page (a reload, closing the tab, another
 * address) loses them for good: the browser asks first. The app's own links change no document,
 * so the warning above the codes says it for those.
 */
function useWarnBeforeLeaving(active: boolean) {
  useEffect(() => {
    if (!active) return
    const warn = (event: BeforeUnloadEvent) => {
      event.preventDefault()
      // Older browsers show the prompt only when returnValue is set.
      event.returnValue = ''
    }
    addEventListener('beforeunload', warn)
    return () => removeEventListener('beforeunload', warn)
  }, [active])
}

/** Recovery codes, shown once: copy, download as a text file, then put away. */
export function RecoveryCodes({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  const [kept, setKept] = useState(false)
  useWarnBeforeLeaving(!kept)
  const text = `imghost recovery codes (${location.host})\nEach works once, instead of a code from your app.\n\n${codes.join('\n')}\n`
  const download = () => {
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }))
    const link = Object.assign(document.createElement('a'), { href: url, download: 'imghost-recovery-codes.txt' })
    link.click()
    setTimeout(() => URL.revokeObjectURL(url), 1000)
    setKept(true)
  }
  return (
    <div class="new-key" data-testid="recovery-codes" role="region" aria-label="Recovery codes" tabIndex={-1}>
      <h3>Your recovery codes</h3>
      <p class="warning"><strong>Shown once: copy or download them now.</strong> They are gone when you leave or reload this page.</p>
      <p>Keep them somewhere safe. Each one signs you in once if you lose your phone or passkey.</p>
      <ol class="codes">{codes.map((code) => <li><code>{code}</code></li>)}</ol>
      <p class="actions">
        <span onClick={() => setKept(true)}><CopyButton text={codes.join('\n')} label="Copy codes" /></span>{' '}
        <button type="button" class="secondary" onClick={download}>Download</button>{' '}
        <button type="button" onClick={onDone}>I have saved them</button>
      </p>
    </div>
  )
}

const APP_CODE_LABEL = 'Code from the app'

/** The API's `invalid_code` at set-up ("That code is not right; …"), named as the form labels the field. */
const CONFIRM_WORDS: FormWords = {
  codes: { invalid_code: `${APP_CODE_LABEL}: that code is wrong or has expired. Enter the code your app shows now; if it is refused again, check the time on your phone.` },
}

function AuthenticatorApp({ status, reload, showCodes }: { status: TwoFactorStatus; reload: () => void; showCodes: (codes: string[]) => void }) {
  const { api } = useSession()
  const [enrolment, setEnrolment] = useState<{ secret: string; otpauth_uri: string } | null>(null)
  const [state, setState] = useState<{ error?: string; message?: string }>({})
  const stateRegion = useRef<HTMLDivElement>(null)
  // A wrong code is typed again: the focus goes to its field, marked invalid, off the button pressed.
  const refusal = useFieldRefusal('totp-confirm-error', { invalid_code: 'code' })
  // Each step takes its own button away: the focus goes to what comes next, the code field, then the codes.
  const refocus = useRefocus(enrolment)
  const start = async () => {
    try {
      const started = await api.auth('POST', '/api/v1/auth/2fa/totp')
      refocus(() => document.querySelector<HTMLInputElement>('#f-code-from-the-app'))
      setEnrolment(started)
      setState({})
    } catch (e) {
      setState({ error: messageOf(e) })
    }
  }
  const confirm = async (event: Event) => {
    const form = event.currentTarget as HTMLFormElement
    refusal.clear()
    try {
      const code = authenticatorCode(values(event).code ?? '')
      // Tied to its field as a wrong code is: the person types it again there.
      if (!code) return (setState({}), refusal.refuseAt(form, AUTHENTICATOR_CODE_RULE, 'code'))
      const answer = await api.auth('POST', '/api/v1/auth/2fa/totp/confirm', { code })
      refocus(() => document.querySelector<HTMLElement>('[data-testid="recovery-codes"]') ?? stateRegion.current)
      setEnrolment(null)
      setState({ message: 'Authenticator app turned on.' })
      if (answer.recovery_codes) showCodes(answer.recovery_codes)
      reload()
    } catch (e) {
      setState({})
      refusal.refuse(form, e, messageOf(e, CONFIRM_WORDS))
    }
  }
  // An SVG image from the bundled encoder: the secret never leaves the page, no remote QR service.
  const qr = enrolment ? `data:image/svg+xml;utf8,${encodeURIComponent(renderSVG(enrolment.otpauth_uri, { border: 2 }))}` : null
  return (
    <div class="panel">
      <h2>Authenticator app</h2>
      {status.totp ? <p class="ok">On: sign-ins ask for a 6-digit code from your app.</p> : null}
      {!status.totp && !enrolment ? (
        <>
          <p>Use an app such as Aegis, Google Authenticator or 1Password for a 6-digit code at each sign-in.</p>
          <ActionButton onClick={start}>Set up an authenticator app</ActionButton>
        </>
      ) : null}
      {enrolment ? (
        <Form onSubmit={confirm}>
          <p>Scan this code with your app, then type the 6-digit code it shows.</p>
          <img class="qr" src={qr!} alt="QR code for your authenticator app" width={200} height={200} />
          <p class="small">Cannot scan? Enter this key: <code data-testid="totp-secret">{enrolment.secret}</code></p>
          <Field label={APP_CODE_LABEL} name="code" inputMode="numeric" autocomplete="one-time-code" required errorId={refusal.errorOf('code')} />
          <SubmitButton busyLabel="Checking…">Turn on</SubmitButton>
        </Form>
      ) : null}
      <Status error={refusal.error ?? state.error} message={state.message} focusRef={stateRegion} errorId="totp-confirm-error" />
    </div>
  )
}

/** Refusals about one field of the form (by its `name`): it takes the focus, marked invalid. */
const FIELD_AT_FAULT: Record<string, string> = { invalid_password: 'password', invalid_code: 'code' }

const PASSWORD_LABEL = 'Password'
const CODE_LABEL = 'Code from the app, or a recovery code'

/** Those refusals as the form labels the fields: the API says "Wrong password", "That code is not right, or was already used". */
const PASSWORD_AND_CODE_WORDS: FormWords = {
  codes: {
    invalid_password: wrongPassword(PASSWORD_LABEL),
    invalid_code: `${CODE_LABEL}: that code is wrong, has expired or was already used. Enter the code your app shows now, or a recovery code not used yet.`,
  },
}

/**
 * Turning 2FA off and getting new recovery codes both need the password and a code, or a passkey
 * in place of the code (a passkey-only account may have no recovery code left).
 */
function PasswordAndCodeForm({ action, label, danger, passkeys, onDone }: { action: string; label: string; danger?: boolean; passkeys: number; onDone: (answer: any) => void }) {
  const { api, user } = useSession()
  const id = action.split('/').pop()
  const errorId = `${id}-error`
  // A wrong password or code is typed again: the focus goes to its field, off the button pressed.
  const { error, refuse, clear, errorOf } = useFieldRefusal(errorId, FIELD_AT_FAULT)
  const send = async (form: HTMLFormElement, factor: { code: string } | { webauthn: { challenge_token: string; response: unknown } }) => {
    const password = String(new FormData(form).get('password') ?? '')
    onDone(await api.auth('POST', action, { password: password || undefined, ...factor }))
    clear()
    form.reset()
  }
  const submit = async (event: Event) => {
    const form = event.currentTarget as HTMLFormElement
    try {
      // An app's code pasted with spaces is its digits; anything else (a recovery code) goes as typed, trimmed.
      const typed = values(event).code!.trim()
      await send(form, { code: authenticatorCode(typed) ?? typed })
    } catch (e) {
      refuse(form, e, messageOf(e, PASSWORD_AND_CODE_WORDS))
    }
  }
  const withPasskey = async () => {
    const form = (document.getElementById(`${id}-code`) as HTMLInputElement).form!
    const password = form.elements.namedItem('password') as HTMLInputElement | null
    if (password && !password.reportValidity()) return
    try {
      const { challenge_token, options } = await api.auth('POST', '/api/v1/auth/2fa/passkey-options')
      await send(form, { webauthn: { challenge_token, response: await startAuthentication({ optionsJSON: options }) } })
    } catch (e) {
      refuse(form, e, passkeyError(e, PASSWORD_AND_CODE_WORDS))
    }
  }
  return (
    <Form onSubmit={submit} aria-label={label}>
      {user?.provider === 'form' ? (
        <Field label={PASSWORD_LABEL} id={`${id}-password`} name="password" type="password" autocomplete="current-password" required maxLength={PASSWORD_MAX_LENGTH} errorId={errorOf('password')} />
      ) : null}
      <Field label={CODE_LABEL} id={`${id}-code`} name="code" autocomplete="one-time-code" required errorId={errorOf('code')} />
      <Status error={error} errorId={errorId} />
      <SubmitButton class={danger ? 'danger' : undefined}>{label}</SubmitButton>
      {passkeys > 0 && typeof PublicKeyCredential !== 'undefined' ? (
        <>
          {' '}
          <ActionButton class="secondary" busyLabel="Waiting for the passkey…" onClick={withPasskey}>{`${label} with a passkey`}</ActionButton>
        </>
      ) : null}
    </Form>
  )
}

export function SecurityPage() {
  const { api } = useSession()
  const route = useRouteContext()
  const status = useLoad(() => api.auth<TwoFactorStatus>('GET', '/api/v1/auth/2fa'))
  const [codes, setCodes] = useState<string[] | null>(null)
  const [message, setMessage] = useState<string | null>(null)
  // Turning 2FA off removes the passkeys too: a new key remounts their panel, which reloads its list.
  const [generation, setGeneration] = useState(0)
  const stateLine = useRef<HTMLParagraphElement>(null)
  // Turning 2FA off takes its panel away once the status is reloaded: the focus goes to the line saying it is off.
  const refocus = useRefocus(status.data)
  // The codes' region goes with its button: the focus goes to the line saying what is now on, not to the page.
  const codesSaved = () => {
    stateLine.current?.focus()
    setCodes(null)
  }
  const data = status.data
  return (
    <section>
      <PageTitle>Security</PageTitle>
      {data?.required && !data.enabled ? (
        <p class="warning" role="alert">This instance requires administrators to use two-factor authentication. Turn it on to open the admin pages.</p>
      ) : route.query.get('required') && !data?.enabled ? (
        <p class="warning">Two-factor authentication is needed for the admin pages.</p>
      ) : null}
      <Status error={status.error} message={message} retry={status} />
      {data ? (
        <>
          <p data-testid="two-factor-state" tabIndex={-1} ref={stateLine}>
            Two-factor authentication is <strong>{data.enabled ? 'on' : 'off'}</strong>
            {data.enabled ? `, ${data.recovery_codes_left} recovery codes left.` : '.'}
          </p>
          {codes ? <RecoveryCodes codes={codes} onDone={codesSaved} /> : null}
          <div class="panels">
            <AuthenticatorApp status={data} reload={status.reload} showCodes={setCodes} />
            <PasskeysPanel key={generation} reload={status.reload} showCodes={setCodes} />
          </div>
          {data.enabled ? (
            <div class="panels">
              <div class="panel">
                <h2>New recovery codes</h2>
                <p>The old ones stop working.</p>
                <PasswordAndCodeForm
                  action="/api/v1/auth/2fa/recovery-codes"
                  label="Make new recovery codes"
                  passkeys={data.passkeys}
                  onDone={(answer) => {
                    // As turning the app on does: the new codes take the focus, off the field just emptied.
                    refocus(() => document.querySelector<HTMLElement>('[data-testid="recovery-codes"]'), { fromHere: true })
                    setCodes(answer.recovery_codes)
                    // The count above was of the old codes.
                    status.reload()
                  }}
                />
              </div>
              <div class="panel">
                <h2>Turn two-factor authentication off</h2>
                <p>Removes the authenticator app, the recovery codes and every passkey.</p>
                <PasswordAndCodeForm
                  action="/api/v1/auth/2fa/disable"
                  label="Turn off"
                  passkeys={data.passkeys}
                  danger
                  onDone={() => {
                    refocus(() => stateLine.current)
                    setMessage('Two-factor authentication is off.')
                    setCodes(null)
                    setGeneration((n) => n + 1)
                    status.reload()
                  }}
                />
              </div>
              <TrustedDevicesPanel />
            </div>
          ) : null}
          <div class="panels">
            <SessionsPanel />
          </div>
        </>
      ) : null}
    </section>
  )
}
