import { useEffect, useState } from 'preact/hooks'
import { Link, appPath, navigate, takeNotice, useRouteContext } from '../router.tsx'
import { type Api, ApiError } from '../api.ts'
import { Form, SubmitButton } from '../forms.tsx'
import { Field, firstNameRule, type FormWords, nameRule, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, PageTitle, Status, type User, USERNAME_HINT, USERNAME_PATTERN, USERNAME_RULE, messageOf, passwordLengthRule, useFieldRefusal, useSession } from '../ui.tsx'
import { PasskeySignInButton, type SecondStep, SecondStepForm, secondStepTokenFromHash } from './login-two-factor.tsx'

/** Where a sign-in lands when the address names no page of this site. */
const DEFAULT_NEXT = '/gallery'

const formValues = (event: Event) => Object.fromEntries(new FormData(event.currentTarget as HTMLFormElement)) as Record<string, string>

/** The API's limits for the login form (modules/auth/model.ts `login`), as the form labels its fields. */
const LOGIN_WORDS: FormWords = {
  fields: {
    identifier: () => 'Email or username: at most 254 characters.',
    password: () => `Password: at most ${PASSWORD_MAX_LENGTH} characters.`,
  },
}

/** The API's rules for a new account (modules/auth/model.ts `register`), as the sign-up form labels its fields. */
const signUpWords = (values: Record<string, string>): FormWords => ({
  fields: {
    first_name: () => firstNameRule(values.first_name),
    last_name: () => nameRule('Last name', values.last_name),
    username: () => USERNAME_RULE,
    email: () => 'Email: a valid address, at most 254 characters.',
    password: () => passwordLengthRule('Password', values.password),
    invite_code: () => 'Invite code: at most 100 characters.',
  },
})

/**
 * Refusals of a new account that are about one field (by its `name`): the value typed there is
 * taken, or the invite code is wrong, used, expired or missing (src/registration); an invite for
 * another address is about the address typed.
 */
const SIGN_UP_FIELD_OF: Record<string, string> = {
  username_taken: 'username',
  email_taken: 'email',
  invalid_invite: 'invite_code',
  invite_used: 'invite_code',
  invite_expired: 'invite_code',
  invite_required: 'invite_code',
  invite_email_mismatch: 'email',
}

/**
 * After a successful sign-in: the page's session starts, then the page moves on. Should moving on
 * fail all the same (`next` is checked, so it should not), the person is signed in and lands on
 * the default page: a sign-in form never shows the browser's exception for it.
 */
function useStartSession() {
  const { api, setUser } = useSession()
  return (user: User, next: string) => {
    api.reset()
    setUser(user)
    moveOn(next)
  }
}

/** Shows `next` in place of the sign-in page, or the default page should the browser refuse it. */
function moveOn(next: string) {
  try {
    navigate(next, true)
  } catch (error) {
    console.error(error)
    navigate(DEFAULT_NEXT, true)
  }
}

/** Where a sign-in goes: the address's `next`, only when it is a page of this site (never bounce a person elsewhere). */
const nextOf = (query: URLSearchParams) => appPath(query.get('next')) ?? DEFAULT_NEXT

/**
 * Whether someone is signed in already on the login or sign-up page (an old bookmark, Back after
 * signing in): they are sent on as a sign-in would send them, in place of the page, rather than
 * shown blank forms under the signed-in navigation.
 */
function useSendOnWhenSignedIn(): boolean {
  const { user } = useSession()
  const route = useRouteContext()
  useEffect(() => {
    if (user) moveOn(nextOf(route.query))
  }, [user])
  return user !== null
}

const SendingOn = () => <p aria-live="polite">You are signed in; opening your page…</p>

/**
 * A form that signs in (login, sign-up): its error shown, then the session starts and the page
 * moves on. A refusal about one field (a username taken, by `fieldOfCode`; a password of spaces
 * alone, by its details) marks it invalid, is described by the error (`errorId`) and gives it the
 * focus, off the submit button.
 */
function useSignIn(
  signIn: (api: Api, values: Record<string, string>) => Promise<{ user: User; next: string } | null>,
  words: (values: Record<string, string>) => FormWords,
  errorId: string,
  fieldOfCode: Record<string, string> = {},
) {
  const { api } = useSession()
  const startSession = useStartSession()
  const { error, refuse, clear, errorOf } = useFieldRefusal(errorId, fieldOfCode)
  const submit = async (event: Event) => {
    const form = event.currentTarget as HTMLFormElement
    clear()
    const values = formValues(event)
    let signedIn: Awaited<ReturnType<typeof signIn>>
    try {
      signedIn = await signIn(api, values)
    } catch (e) {
      return refuse(form, e, messageOf(e, words(values)))
    }
    // null: a second step follows (two-factor authentication).
    if (signedIn) startSession(signedIn.user, signedIn.next)
  }
  return { error, errorOf, submit }
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
  const { api } = useSession()
  const startSession = useStartSession()
  const [step, setStep] = useState<SecondStep | null>(null)
  const [stepError, setStepError] = useState<string | null>(null)
  const signedInAlready = useSendOnWhenSignedIn()
  // Sent here because the session ended (elsewhere, or it ran out): said once, not on a first visit.
  const [notice] = useState(takeNotice)
  const next = nextOf(route.query)
  const signedIn = (user: User) => startSession(user, next)
  useEffect(() => {
    const token = secondStepTokenFromHash()
    if (token && !signedInAlready) api.auth('POST', '/api/v1/auth/login/2fa/options', { challenge_token: token }).then(setStep, (e) => setStepError(messageOf(e)))
  }, [])
  const { error, errorOf, submit } = useSignIn(async (api, { identifier, password }) => {
    // A phone keyboard adds a space after a suggested address; no email or username holds one.
    const answer = await api.auth('POST', '/api/v1/auth/login', { identifier: identifier?.trim(), password })
    if (answer.two_factor_required) return (setStep(answer as SecondStep), null)
    return { user: answer.user as User, next }
  }, () => LOGIN_WORDS, 'login-error')
  if (signedInAlready) return <SendingOn />
  if (step) return <SecondStepForm step={step} onSignedIn={signedIn} onCancel={() => setStep(null)} />
  return (
    <section class="narrow">
      <PageTitle>Log in</PageTitle>
      {notice ? <p class="warning" role="status">{notice}</p> : null}
      <Form onSubmit={submit}>
        <Field label="Email or username" name="identifier" autocomplete="username" required maxLength={254} errorId={errorOf('identifier')} />
        <Field label="Password" name="password" type="password" autocomplete="current-password" required maxLength={PASSWORD_MAX_LENGTH} errorId={errorOf('password')} />
        <Status error={error ?? stepError} errorId="login-error" />
        <SubmitButton busyLabel="Logging in…">Log in</SubmitButton>
      </Form>
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
  const signedInAlready = useSendOnWhenSignedIn()
  const { error, errorOf, submit } = useSignIn(async (api, { first_name, last_name, username, email, password, invite_code }) => {
    const code = invite_code?.trim()
    const answer = await api.auth('POST', '/api/v1/auth/register', { first_name, last_name: last_name || null, username, email, password, ...(code ? { invite_code: code } : {}) })
    return { user: answer.user as User, next: '/upload' }
  }, signUpWords, 'signup-error', SIGN_UP_FIELD_OF)
  if (signedInAlready) return <SendingOn />
  return (
    <section class="narrow">
      <PageTitle>Create an account</PageTitle>
      {mode === 'closed' ? <p class="warning">This server is not taking new accounts.</p> : null}
      {mode === 'invite' && !linkInvite ? <p>New accounts need an invite: use the link an administrator sent you, or enter its code below.</p> : null}
      {linkInvite ? <p>You were invited: the code is filled in below.</p> : null}
      <Form onSubmit={submit}>
        <div class="row">
          <Field label="First name" name="first_name" autocomplete="given-name" required maxLength={100} errorId={errorOf('first_name')} />
          <Field label="Last name (optional)" id="f-last-name" name="last_name" autocomplete="family-name" maxLength={100} errorId={errorOf('last_name')} />
        </div>
        <Field label="Username" name="username" autocomplete="username" required minLength={3} maxLength={32} pattern={USERNAME_PATTERN} hint={USERNAME_HINT} errorId={errorOf('username')} />
        <Field label="Email" name="email" type="email" autocomplete="email" required maxLength={254} errorId={errorOf('email')} />
        <Field label="Password" name="password" type="password" autocomplete="new-password" required minLength={PASSWORD_MIN_LENGTH} maxLength={PASSWORD_MAX_LENGTH} hint={`At least ${PASSWORD_MIN_LENGTH} characters`} errorId={errorOf('password')} />
        {mode !== 'open' || linkInvite ? (
          <Field label="Invite code" name="invite_code" autocomplete="off" maxLength={100} value={invite}
            onInput={(event) => setInvite((event.currentTarget as HTMLInputElement).value)} hint={mode === 'invite' ? 'From your invite link' : 'Optional'} errorId={errorOf('invite_code')} />
        ) : null}
        <Status error={error} errorId="signup-error" />
        <SubmitButton busyLabel="Creating…">Create account</SubmitButton>
      </Form>
      <OAuthButtons invite={invite.trim() || undefined} />
      <p>Already have an account? <Link href="/login">Log in</Link></p>
    </section>
  )
}

export function ForgotPage() {
  const { api } = useSession()
  const [state, setState] = useState<{ error?: string; message?: string }>({})
  const submit = async (event: Event) => {
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
      <Form onSubmit={submit}>
        <Field label="Email" name="email" type="email" autocomplete="email" required maxLength={254} />
        <Status error={state.error} message={state.message} />
        <SubmitButton busyLabel="Sending…">Send the link</SubmitButton>
      </Form>
    </section>
  )
}

/** What a dead reset link (invalid, expired or used) is told, with the way to a new one. */
const DeadResetLink = () => (
  <>This reset link is invalid, expired or already used. <Link href="/forgot-password">Ask for a new link</Link>.</>
)

export function ResetPage() {
  const { api } = useSession()
  const route = useRouteContext()
  const token = route.query.get('token') ?? ''
  const [state, setState] = useState<{ error?: preact.ComponentChildren; done?: boolean }>({})
  // The link is checked first (the check spends nothing): a dead one is told before a password is typed twice.
  const [link, setLink] = useState<'checking' | 'live' | 'dead' | 'blocked'>(token ? 'checking' : 'dead')
  useEffect(() => {
    if (!token) return
    api.auth('POST', '/api/v1/auth/reset-password/check', { token }).then(
      () => setLink('live'),
      // Only the link's own refusal is final; a server that cannot answer now still gets the form, and the reset says.
      (e) => setLink(e instanceof ApiError && e.code === 'invalid_reset_token' ? 'dead' : e instanceof ApiError && e.code === 'account_blocked' ? 'blocked' : 'live'),
    )
  }, [token])
  const submit = async (event: Event) => {
    const { password, confirm } = formValues(event)
    if (password !== confirm) return setState({ error: 'The two passwords differ.' })
    try {
      await api.auth('POST', '/api/v1/auth/reset-password', { token, password })
      setState({ done: true })
      // The token is spent: out of the address, so a reload does not offer the form again with it.
      navigate('/reset-password', true)
    } catch (e) {
      if (e instanceof ApiError && e.code === 'invalid_reset_token') return setState({ error: <DeadResetLink /> })
      setState({ error: messageOf(e, { fields: { password: () => passwordLengthRule('New password', password) } }) })
    }
  }
  if (state.done) {
    return (
      <section class="narrow">
        {/* Keyed: a new heading in place of the form's, so it takes the focus and is read out. */}
        <PageTitle key="done">Password changed</PageTitle>
        <p>Every other session was signed out. <Link href="/login">Log in</Link> with the new password.</p>
      </section>
    )
  }
  if (link === 'dead') {
    return (
      <section class="narrow">
        <PageTitle key="dead">Link not valid</PageTitle>
        <p role="alert">{token ? <DeadResetLink /> : <>This page needs the link from the reset mail. <Link href="/forgot-password">Ask for a reset mail</Link>.</>}</p>
      </section>
    )
  }
  if (link === 'blocked') {
    return (
      <section class="narrow">
        <PageTitle key="blocked">Account blocked</PageTitle>
        <p role="alert">This account is blocked, so its password cannot be reset. If you think this is a mistake, contact the administrator.</p>
      </section>
    )
  }
  if (link === 'checking') return <p aria-live="polite">Checking your link…</p>
  return (
    <section class="narrow">
      <PageTitle>Choose a new password</PageTitle>
      <Form onSubmit={submit}>
        <Field label="New password" name="password" type="password" autocomplete="new-password" required minLength={PASSWORD_MIN_LENGTH} maxLength={PASSWORD_MAX_LENGTH} />
        <Field label="Repeat it" name="confirm" type="password" autocomplete="new-password" required minLength={PASSWORD_MIN_LENGTH} maxLength={PASSWORD_MAX_LENGTH} />
        <Status error={state.error} />
        <SubmitButton>Set password</SubmitButton>
      </Form>
    </section>
  )
}

const VERIFY_TITLES = { checking: 'Checking your link…', ok: 'Email verified', already: 'Email verified', bad: 'Link not valid' } as const

/** The verification link's result, for links pointed at the app (the API's own link answers a small page itself). */
export function VerifyEmailPage() {
  const route = useRouteContext()
  const { api, user, setUser } = useSession()
  const [result, setResult] = useState<keyof typeof VERIFY_TITLES>('checking')
  useEffect(() => {
    const token = route.query.get('token') ?? ''
    // Verified before this link was opened: the server answers a used link of a verified account
    // that is signed in with a 200 page of its own (already confirmed), not a 400.
    const wasVerified = user?.is_verified === true
    const verify = async () => {
      const response = await fetch(`/api/v1/auth/verify-email?token=${encodeURIComponent(token)}`).catch(() => null)
      // A used link also fails: when it was this account's, followed before (a reload, another
      // tab), the account itself says it is verified. Asked afresh, and kept for the other pages.
      const signedIn = user ? (await api.auth<{ user: User | null }>('GET', '/api/v1/web/session').catch(() => null))?.user : null
      if (signedIn) setUser(signedIn)
      setResult(wasVerified ? 'already' : response?.ok ? 'ok' : signedIn?.is_verified ? 'already' : 'bad')
    }
    void verify()
  }, [])
  return (
    <section class="narrow">
      {/* Keyed by its text: the result is a new heading, so it takes the focus and is read out. */}
      <PageTitle key={VERIFY_TITLES[result]}>{VERIFY_TITLES[result]}</PageTitle>
      <div aria-live="polite">
        {result === 'ok' ? <p>Thank you: your address is confirmed.</p> : null}
        {result === 'already' ? <p>Your address is already verified: there is nothing more to do.</p> : null}
        {result === 'bad' ? <p>This link is invalid, expired or already used. Log in and ask for a new one from your account page.</p> : null}
      </div>
      {/* Signed out, the way on is to log in (as the page has just said); for a new link, on the account page. */}
      {user ? (
        <p><Link href="/gallery">Go to your gallery</Link></p>
      ) : result !== 'checking' ? (
        <p><Link href={result === 'bad' ? `/login?next=${encodeURIComponent('/account')}` : '/login'}>Log in</Link></p>
      ) : null}
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
