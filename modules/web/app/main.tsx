import { render } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import 'uplot/dist/uPlot.min.css'
import './styles.css'
import { type Api, type WebConfig, createApi } from './api.ts'
import { ActionButton } from './forms.tsx'
import { AccountPage } from './pages/account.tsx'
import { ActivityPage } from './pages/activity.tsx'
import { AuthorizeAppPage } from './pages/authorize-app.tsx'
import { AdminPage } from './pages/admin.tsx'
import { AlbumPage } from './pages/album.tsx'
import { AlbumsPage } from './pages/albums.tsx'
import { GalleryPage } from './pages/gallery.tsx'
import { ImagePage } from './pages/image.tsx'
import { KeysPage } from './pages/keys.tsx'
import { ForgotPage, LandingPage, LoginPage, NotFoundPage, ResetPage, SignupPage, VerifyEmailPage } from './pages/public.tsx'
import { SecurityPage } from './pages/security.tsx'
import { StatisticsPage } from './pages/statistics.tsx'
import { UploadPage } from './pages/upload.tsx'
import { WebhooksPage } from './pages/webhooks.tsx'
import { Link, RouteContext, match, navigate, useRoute } from './router.tsx'
import { type Session, SessionContext, type User } from './ui.tsx'
import { UploadIndicator } from './upload-indicator.tsx'
import { createUploadQueue, UploadQueueContext } from './upload-queue.ts'
import { DeletionScheduledNotice } from './deletion-notice.tsx'
import { VerifyAddressNotice } from './verify-notice.tsx'

const PUBLIC: Record<string, () => preact.JSX.Element> = {
  '/': LandingPage,
  '/login': LoginPage,
  '/signup': SignupPage,
  '/forgot-password': ForgotPage,
  '/reset-password': ResetPage,
  '/verify-email': VerifyEmailPage,
}
const PRIVATE: [string, (props: any) => preact.JSX.Element | null][] = [
  ['/upload', UploadPage],
  ['/gallery', GalleryPage],
  ['/gallery/:id', ImagePage],
  ['/albums', AlbumsPage],
  ['/albums/:id', AlbumPage],
  ['/statistics', StatisticsPage],
  ['/keys', KeysPage],
  ['/webhooks', WebhooksPage],
  ['/account', AccountPage],
  ['/activity', ActivityPage],
  ['/security', SecurityPage],
  ['/authorize-app', AuthorizeAppPage],
  ['/admin', AdminPage],
  ['/admin/:tab', AdminPage],
]

function Nav({ session }: { session: Session }) {
  const logout = async () => {
    const answer = await session.api.auth<{ provider_logout_url?: string }>('POST', '/api/v1/auth/logout').catch(() => null)
    session.api.reset()
    session.setUser(null)
    // Signed in through the OpenID Connect provider (OIDC_LOGOUT_AT_PROVIDER): its session ends too, and it sends the browser back to /login.
    if (answer?.provider_logout_url) location.assign(answer.provider_logout_url)
    else navigate('/login')
  }
  const user = session.user
  return (
    <header class="top">
      <nav aria-label="Main">
        <Link href="/" class="brand">imghost</Link>
        {user ? (
          <>
            <Link href="/upload">Upload</Link>
            <Link href="/gallery">Gallery</Link>
            <Link href="/albums">Albums</Link>
            <Link href="/statistics">Statistics</Link>
            <Link href="/keys">API keys</Link>
            <Link href="/webhooks">Webhooks</Link>
            <Link href="/account">Account</Link>
            <Link href="/activity">Activity</Link>
            <Link href="/security">Security</Link>
            {user.is_admin ? <Link href="/admin">Admin</Link> : null}
            <UploadIndicator />
            <ActionButton class="link" onClick={logout}>Log out</ActionButton>
          </>
        ) : (
          <>
            <Link href="/login">Log in</Link>
            <Link href="/signup">Sign up</Link>
          </>
        )}
      </nav>
    </header>
  )
}

/**
 * A session can end while a page is open: a logout in another tab, a password change elsewhere, a
 * block. The next call then answers 401, but so does a sign-in form's wrong password, so the session
 * route decides: when it knows nobody any more, the page forgets its user, and a signed-in page sends the
 * person to the login page, `next` naming where they were (App, below).
 */
function useSessionEndedWatch(api: Api, user: User | null, setUser: (user: User | null) => void) {
  // Whether the user was taken away because the session ended (not a first, signed-out visit):
  // the login page then says why it is shown.
  const ended = useRef(false)
  if (user) ended.current = false
  const signedIn = useRef(user !== null)
  signedIn.current = user !== null
  useEffect(() => {
    let checking = false
    return api.onUnauthorized(async () => {
      if (!signedIn.current || checking) return
      checking = true
      try {
        const session = await api.auth<{ user: User | null }>('GET', '/api/v1/web/session')
        if (!session.user && signedIn.current) {
          api.reset()
          ended.current = true
          setUser(null)
        }
      } catch {
        // The server cannot say: keep the page as it is; the form shows its own error.
      } finally {
        checking = false
      }
    })
  }, [])
  return ended
}

const SIGNED_OUT_NOTICE = 'You were signed out. Sign in again to continue.'

function App({ api, initialUser }: { api: Api; initialUser: User | null }) {
  const [user, setUser] = useState(initialUser)
  const sessionEnded = useSessionEndedWatch(api, user, setUser)
  // The Upload page's queue lives here, so uploads go on, and are shown again, across the app's pages.
  const [uploads] = useState(() => createUploadQueue(api))
  // Signed out (here, in another tab, or the session ended): the uploads were that session's.
  useEffect(() => void (user || uploads.reset()), [user])
  const route = useRoute()
  const session: Session = { api, user, setUser }
  let page: preact.JSX.Element
  const PublicPage = PUBLIC[route.path]
  const privateMatch = PRIVATE.map(([pattern, Page]) => [match(pattern, route.path), Page] as const).find(([params]) => params)
  if (PublicPage) page = <PublicPage />
  else if (privateMatch) {
    const [params, Page] = privateMatch
    if (!user) {
      const notice = sessionEnded.current ? SIGNED_OUT_NOTICE : undefined
      queueMicrotask(() => navigate(`/login?next=${encodeURIComponent(route.path + location.search)}`, true, notice))
      page = <p>Redirecting to the login page…</p>
    } else page = <Page key={route.path} {...params} />
  } else page = <NotFoundPage />
  // The account page words both itself, with the buttons that act on them.
  const elsewhereSignedIn = user && privateMatch && route.path !== '/account' ? user : null
  const unverified = elsewhereSignedIn && !elsewhereSignedIn.is_verified ? elsewhereSignedIn : null
  const deletionAt = elsewhereSignedIn?.delete_scheduled_for ?? null
  return (
    <SessionContext.Provider value={session}>
      <UploadQueueContext.Provider value={uploads}>
        <RouteContext.Provider value={route}>
          <a href="#main" class="skip">Skip to content</a>
          <Nav session={session} />
          {/* Outside <main>, which is made anew for each page: this live region is there before the
              notice comes (right after sign-up), so the notice is read out. */}
          <div class="notices" role="status">
            {deletionAt ? <DeletionScheduledNotice at={deletionAt} /> : null}
            {unverified ? <VerifyAddressNotice email={unverified.email} /> : null}
          </div>
          <main id="main" key={route.path}>{page}</main>
        </RouteContext.Provider>
      </UploadQueueContext.Provider>
    </SessionContext.Provider>
  )
}

async function start() {
  const root = document.getElementById('app')!
  try {
    const config: WebConfig = await (await fetch('/api/v1/web/config')).json()
    const api = createApi(config)
    // 200 with or without a session (modules/web/index.ts), so an anonymous visit logs no failed request.
    const { user } = await api.auth<{ user: User | null }>('GET', '/api/v1/web/session')
    root.textContent = ''
    render(<App api={api} initialUser={user} />, root)
  } catch (error) {
    root.textContent = `imghost could not start: ${error instanceof Error ? error.message : String(error)}`
  }
}

void start()
