import { useEffect, useState } from 'preact/hooks'
import { Link, navigate, useRouteContext } from '../router.tsx'
import type { Api } from '../api.ts'
import { Field, PageTitle, Status, type User, messageOf, useSession } from '../ui.tsx'
import { PasskeySignInButton, type SecondStep, SecondStepForm, secondStepTokenFromHash } from './login-two-factor.tsx'

/** Only paths on this page's own origin: never bounce a person to another site after login. */
const safeNext = (next: string | null) => (next && next.startsWith('/') && !next.startsWith('//') ? next : '/gallery')

const formValues = (event: Event) => Object.fromEntries(new FormData(event.currentTarget as HTMLFormElement)) as Record<string, string>

/** A form that signs in (login, sign-up): busy while it runs, its error shown, then the session starts and the page moves on. */
function useSignIn(signIn: (api: Api, values: Record<string, string>) => Promise<{ user: User; next: string } | null>) {
  const { api, setUser } = useSession()
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (event: Event) => {
    event.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const signedIn = await signIn(api, formValues(event))
      // null: a second step follows (two-factor authentication).
      if (!signedIn) return
      const { user, next } = signedIn
      api.reset()
      setUser(user)
      navigate(next, true)
    } catch (e) {
      setError(messageOf(e))
    } finally {
      setBusy(false)
    }
  }
  return { busy, error, submit }
}

export function LandingPage() {
  const { user } = useSession()
  return (
    <section class="landing">
      <PageTitle>Your images, on your own server</PageTitle>
      <p class="lead">Upload from the browser, ShareX or a script. Share a link, an embed or a signed link that expires. See who looks, without tracking anyone.</p>
      <ul class="features">
        <li><strong>Fast delivery</strong> with cache-friendly links and thumbnails.</li>
        <li><strong>Private by choice</strong>: switch any image private, or share it with a link that expires.</li>
        <li><strong>API keys</strong> for ShareX, Flameshot and curl.</li>
      </ul>
      <p class="actions">
        {user ? (
          <>
            <Link class="button" href="/upload">Upload images</Link> <Link class="button secondary" href="/gallery">Your gallery</Link>
          </>
        ) : (
          <>
            <Link class="button" href="/signup">Create an account</Link> <Link class="button secondary" href="/login">Log in</Link>
          </>
        )}
      </p>
    </section>
  )
}

/** `invite` rides along so that a new account made through a provider can use it. */
function OAuthButtons({ invite }: { invite?: string }) {
  const { api } = useSession()
  if (!api.config.oauth_providers.length) return null
  const redirect = encodeURIComponent(`${location.origin}/gallery`)
  const names: Record<string, string> = { google: 'Google', github: 'GitHub', oidc: api.config.oidc_name ?? 'Single sign-on' }
  const extra = invite ? `&invite=${encodeURIComponent(invite)}` : ''
  return (
    <div class="oauth">
      <p>Or continue with</p>
      {api.config.oauth_providers.map((provider) => (
        <a class="button secondary" href={`/api/v1/auth/${provider}?redirect=${redirect}${extra}`}>{names[provider] ?? provider}</a>
      ))}
    </div>
  )
}

export function LoginPage() {
  const route = useRouteContext()
  const { api, setUser } = useSession()
  const [step, setStep] = useState<SecondStep | null>(null)
  const [stepError, setStepError] = useState<string | null>(null)
  const next = safeNext(route.query.get('next'))
  const signedIn = (user: User) => {
    api.reset()
    setUser(user)
    navigate(next, true)
  }
  useEffect(() => {
    const token = secondStepTokenFromHash()
    if (token) api.auth('POST', '/api/v1/auth/login/2fa/options', { challenge_token: token }).then(setStep, (e) => setStepError(messageOf(e)))
  }, [])
  const { busy, error, submit } = useSignIn(async (api, { identifier, password }) => {
    const answer = await api.auth('POST', '/api/v1/auth/login', { identifier, password })
    if (answer.two_factor_required) return (setStep(answer as SecondStep), null)
    return { user: answer.user as User, next }
  })
  if (step) return <SecondStepForm step={step} onSignedIn={signedIn} onCancel={() => setStep(null)} />
  return (
    <section class="narrow">
      <PageTitle>Log in</PageTitle>
      <form onSubmit={submit}>
        <Field label="Email or username" name="identifier" autocomplete="username" required />
        <Field label="Password" name="password" type="password" autocomplete="current-password" required />
        <Status error={error ?? stepError} />
        <button type="submit" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
      </form>
      <PasskeySignInButton onSignedIn={signedIn} />
      <OAuthButtons />
      <p><Link href="/forgot-password">Forgot your password?</Link> · <Link href="/signup">Create an account</Link></p>
    </section>
  )
}

export function SignupPage() {
  const { api } = useSession()
  const route = useRouteContext()
  const linkInvite = route.query.get('invite') ?? ''
  const [invite, setInvite] = useState(linkInvite)
  const mode = api.config.registration
  const { busy, error, submit } = useSignIn(async (api, { first_name, last_name, username, email, password, invite_code }) => {
    const code = invite_code?.trim()
    const answer = await api.auth('POST', '/api/v1/auth/register', { first_name, last_name: last_name || null, username, email, password, ...(code ? { invite_code: code } : {}) })
    return { user: answer.user as User, next: '/upload' }
  })
  return (
    <section class="narrow">
      <PageTitle>Create an account</PageTitle>
      {mode === 'closed' ? <p class="warning">This server is not taking new accounts.</p> : null}
      {mode === 'invite' && !linkInvite ? <p>New accounts need an invite: use the link an administrator sent you, or enter its code below.</p> : null}
      {linkInvite ? <p>You were invited: the code is filled in below.</p> : null}
      <form onSubmit={submit}>
        <div class="row">
          <Field label="First name" name="first_name" autocomplete="given-name" required maxLength={100} />
          <Field label="Last name (optional)" id="f-last-name" name="last_name" autocomplete="family-name" maxLength={100} />
        </div>
        <Field label="Username" name="username" autocomplete="username" required minLength={3} maxLength={32} pattern="[A-Za-z0-9_.\-]+" hint="3 to 32 letters, digits, _ . -" />
        <Field label="Email" name="email" type="email" autocomplete="email" required />
        <Field label="Password" name="password" type="password" autocomplete="new-password" required minLength={8} hint="At least 8 characters" />
        {mode !== 'open' || linkInvite ? (
          <Field label="Invite code" name="invite_code" autocomplete="off" maxLength={100} value={invite}
            onInput={(event) => setInvite((event.currentTarget as HTMLInputElement).value)} hint={mode === 'invite' ? 'From your invite link' : 'Optional'} />
        ) : null}
        <Status error={error} />
        <button type="submit" disabled={busy}>{busy ? 'Creating…' : 'Create account'}</button>
      </form>
      <OAuthButtons invite={invite.trim() || undefined} />
      <p>Already have an account? <Link href="/login">Log in</Link></p>
    </section>
  )
}

export function ForgotPage() {
  const { api } = useSession()
  const [state, setState] = useState<{ error?: string; message?: string }>({})
  const submit = async (event: Event) => {
    event.preventDefault()
    try {
      const answer = await api.auth('POST', '/api/v1/auth/forgot-password', { email: formValues(event).email })
      setState({ message: answer.message })
    } catch (e) {
      setState({ error: messageOf(e) })
    }
  }
  return (
    <section class="narrow">
      <PageTitle>Forgot your password?</PageTitle>
      <p>Give the address of your account: a link to choose a new password will be mailed to it.</p>
      <form onSubmit={submit}>
        <Field label="Email" name="email" type="email" autocomplete="email" required />
        <Status error={state.error} message={state.message} />
        <button type="submit">Send the link</button>
      </form>
    </section>
  )
}

export function ResetPage() {
  const { api } = useSession()
  const route = useRouteContext()
  const token = route.query.get('token') ?? ''
  const [state, setState] = useState<{ error?: string; done?: boolean }>({})
  const submit = async (event: Event) => {
    event.preventDefault()
    const { password, confirm } = formValues(event)
    if (password !== confirm) return setState({ error: 'The two passwords differ.' })
    try {
      await api.auth('POST', '/api/v1/auth/reset-password', { token, password })
      setState({ done: true })
    } catch (e) {
      setState({ error: messageOf(e) })
    }
  }
  if (state.done) {
    return (
      <section class="narrow">
        <PageTitle>Password changed</PageTitle>
        <p>Every other session was signed out. <Link href="/login">Log in</Link> with the new password.</p>
      </section>
    )
  }
  return (
    <section class="narrow">
      <PageTitle>Choose a new password</PageTitle>
      {!token ? <Status error="This page needs the link from the reset mail." /> : null}
      <form onSubmit={submit}>
        <Field label="New password" name="password" type="password" autocomplete="new-password" required minLength={8} />
        <Field label="Repeat it" name="confirm" type="password" autocomplete="new-password" required minLength={8} />
        <Status error={state.error} />
        <button type="submit" disabled={!token}>Set password</button>
      </form>
    </section>
  )
}

/** The verification link's result, for links pointed at the app (the API's own link answers a small page itself). */
export function VerifyEmailPage() {
  const route = useRouteContext()
  const [result, setResult] = useState<'checking' | 'ok' | 'bad'>('checking')
  useEffect(() => {
    const token = route.query.get('token') ?? ''
    fetch(`/api/v1/auth/verify-email?token=${encodeURIComponent(token)}`).then(
      (response) => setResult(response.ok ? 'ok' : 'bad'),
      () => setResult('bad'),
    )
  }, [])
  return (
    <section class="narrow">
      <PageTitle>{result === 'ok' ? 'Email verified' : result === 'bad' ? 'Link not valid' : 'Checking your link…'}</PageTitle>
      <div aria-live="polite">
        {result === 'ok' ? <p>Thank you: your address is confirmed.</p> : null}
        {result === 'bad' ? <p>This link is invalid, expired or already used. Log in and ask for a new one from your account page.</p> : null}
      </div>
      <p><Link href="/gallery">Go to your gallery</Link></p>
    </section>
  )
}

export function NotFoundPage() {
  return (
    <section class="narrow">
      <PageTitle>Page not found</PageTitle>
      <p>There is nothing at this address. It may have moved, or the link may be mistyped.</p>
      <p><Link href="/">Go to the home page</Link></p>
    </section>
  )
}
