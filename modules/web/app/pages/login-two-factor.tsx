import { startAuthentication } from '@simplewebauthn/browser'
import { useEffect, useRef, useState } from 'preact/hooks'
import { ActionButton, SubmitButton, useOneAtATime } from '../forms.tsx'
import { AUTHENTICATOR_CODE_RULE, Field, type FormWords, PageTitle, Status, type User, authenticatorCode, useFieldRefusal, useSession } from '../ui.tsx'
import { passkeyError } from './security-passkeys.tsx'

/** The answer of a right password for an account with 2FA (POST /api/v1/auth/login). */
export interface SecondStep {
  two_factor_required: true
  challenge_token: string
  expires_at: string
  methods: ('totp' | 'recovery_code' | 'passkey')[]
  webauthn: any
}

/** An OAuth sign-in of a 2FA account lands on /login#two_factor=<token>: the fragment never reaches a server. */
export function secondStepTokenFromHash(): string | null {
  const token = new URLSearchParams(location.hash.slice(1)).get('two_factor')
  if (token) history.replaceState(null, '', location.pathname + location.search)
  return token
}

const APP_CODE_LABEL = 'Code from your authenticator app'
const RECOVERY_CODE_LABEL = 'Recovery code'

/** The API's `invalid_code` ("That code is not right, or was already used"), named as the form labels the field. */
const CODE_WORDS: Record<'app' | 'recovery', FormWords> = {
  app: { codes: { invalid_code: `${APP_CODE_LABEL}: that code is wrong, has expired or was already used. Enter the code your app shows now.` } },
  recovery: { codes: { invalid_code: `${RECOVERY_CODE_LABEL}: that code is wrong or was already used. Enter one of your saved codes not used yet.` } },
}

/** The sign-in's second step: a code from the app, a recovery code, or a passkey. */
export function SecondStepForm({ step, onSignedIn, onCancel }: { step: SecondStep; onSignedIn: (user: User) => void; onCancel: () => void }) {
  const { api } = useSession()
  const [useRecovery, setUseRecovery] = useState(!step.methods.includes('totp'))
  const [remember, setRemember] = useState(false)
  const [error, setError] = useState<string | null>(null)
  // A wrong code is typed again: its field takes the focus, marked invalid and described by the refusal.
  const refusal = useFieldRefusal('second-step-error', { invalid_code: 'code' })
  const codeForm = useRef<HTMLFormElement>(null)
  // One attempt at a time, whether by code or by passkey: a recovery code works only once.
  const attempt = useOneAtATime(async (proof: () => Promise<Record<string, unknown>>) => {
    setError(null)
    refusal.clear()
    let user: User
    try {
      // remember_device leaves an HttpOnly cookie with which the password alone signs in here for 30 days.
      const rememberDevice = remember ? { remember_device: true } : {}
      user = (await api.auth('POST', '/api/v1/auth/login/2fa', { challenge_token: step.challenge_token, ...(await proof()), ...rememberDevice })).user
    } catch (e) {
      // passkeyError words the browser's WebAuthn refusals, and the server's answers in the field's words.
      const text = passkeyError(e, CODE_WORDS[useRecovery ? 'recovery' : 'app'])
      return codeForm.current ? refusal.refuse(codeForm.current, e, text) : setError(text)
    }
    // Outside the try: the sign-in succeeded, whatever happens next is not this form's error.
    onSignedIn(user)
  })
  const submit = (event: Event) => {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    const value = String(new FormData(form).get('code') ?? '').trim()
    if (useRecovery) return void attempt.run(async () => ({ recovery_code: value }))
    const code = authenticatorCode(value)
    // Tied to its field as a wrong code is: the person types it again there.
    if (!code) {
      setError(null)
      return refusal.refuseAt(form, AUTHENTICATOR_CODE_RULE, 'code')
    }
    void attempt.run(async () => ({ code }))
  }
  const withPasskey = () => attempt.run(async () => ({ webauthn: await startAuthentication({ optionsJSON: step.webauthn }) }))
  // The code is all this step asks for: its field takes the focus on arrival and when the kind of code changes.
  useEffect(() => codeForm.current?.querySelector('input')?.focus(), [useRecovery])
  const withCode = step.methods.includes('totp') || step.methods.includes('recovery_code')
  // Ticked before the step is answered, by a code (between its field and Verify) or by a passkey.
  const rememberBox = (
    <div>
      <label class="check">
        <input type="checkbox" checked={remember} onChange={(e) => setRemember((e.currentTarget as HTMLInputElement).checked)} /> Remember this device for 30 days
      </label>
    </div>
  )
  return (
    <section class="narrow">
      <PageTitle focus={!withCode}>Two-factor authentication</PageTitle>
      {withCode ? null : rememberBox}
      {step.methods.includes('passkey') ? (
        <p><button type="button" onClick={withPasskey} aria-disabled={attempt.busy || undefined}>Use a passkey</button></p>
      ) : null}
      {withCode ? (
        <form onSubmit={submit} key={useRecovery ? 'recovery' : 'totp'} ref={codeForm}>
          {useRecovery ? (
            <Field label={RECOVERY_CODE_LABEL} name="code" autocomplete="off" required hint="One of the codes you saved, like abcde-23456" errorId={refusal.errorOf('code')} />
          ) : (
            <Field label={APP_CODE_LABEL} name="code" inputMode="numeric" autocomplete="one-time-code" required errorId={refusal.errorOf('code')} />
          )}
          {rememberBox}
          <SubmitButton busy={attempt.busy} busyLabel="Checking…">Verify</SubmitButton>
        </form>
      ) : null}
      <Status error={refusal.error ?? error} errorId="second-step-error" />
      <p>
        {step.methods.includes('totp') && step.methods.includes('recovery_code') ? (
          <button type="button" class="link" onClick={() => {
            setError(null)
            refusal.clear()
            setUseRecovery(!useRecovery)
          }}>
            {useRecovery ? 'Use a code from your app instead' : 'Use a recovery code instead'}
          </button>
        ) : null}{' '}
        · <button type="button" class="link" onClick={onCancel}>Start over</button>
      </p>
    </section>
  )
}

/** Passwordless: any passkey of this site that verifies its user (PIN, fingerprint, face). */
export function PasskeySignInButton({ onSignedIn }: { onSignedIn: (user: User) => void }) {
  const { api } = useSession()
  const [error, setError] = useState<string | null>(null)
  if (typeof PublicKeyCredential === 'undefined') return null
  const signIn = async () => {
    setError(null)
    let user: User
    try {
      const { challenge_token, options } = await api.auth('POST', '/api/v1/auth/login/passkey/options')
      const response = await startAuthentication({ optionsJSON: options })
      user = (await api.auth('POST', '/api/v1/auth/login/passkey', { challenge_token, response })).user
    } catch (e) {
      return setError(passkeyError(e))
    }
    onSignedIn(user)
  }
  return (
    <div class="passkey-sign-in">
      <ActionButton class="secondary" onClick={signIn}>Sign in with a passkey</ActionButton>
      <Status error={error} />
    </div>
  )
}
