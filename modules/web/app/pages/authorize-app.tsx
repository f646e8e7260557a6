import { useRef, useState } from 'preact/hooks'
import { ActionButton } from '../forms.tsx'
import { Link, useRouteContext } from '../router.tsx'
import { CopyButton, PageTitle, Status, messageOf, useSession } from '../ui.tsx'

/**
 * The consent page of Imgur's OAuth PIN flow (the upload server's GET /oauth2/authorize sends the
 * person here, the query kept): ksnip's "Get PIN". Allow asks the auth server for a PIN
 * (POST /api/v1/app-pins, session only), which the person pastes into the app; the app trades it
 * for an upload-only API key (src/auth/app-grants.ts).
 */

/** The server's rule for a client id (CLIENT_ID_PATTERN in src/auth/app-grants.ts). */
const CLIENT_ID = /^[\x21-\x7E]{1,80}$/

type Outcome = { pin: string } | { cancelled: true } | null

export function AuthorizeAppPage() {
  const { api } = useSession()
  const query = useRouteContext().query
  const clientId = query.get('client_id') ?? ''
  const [outcome, setOutcome] = useState<Outcome>(null)
  const [error, setError] = useState<string | null>(null)
  const result = useRef<HTMLDivElement>(null)
  const show = (next: Outcome) => {
    setOutcome(next)
    // The answer replaces the buttons: the focus goes to it, so it is read out and not lost.
    queueMicrotask(() => result.current?.focus())
  }

  // The server refuses such a client id (clientIdRefusal in src/auth/app-grants.ts): said before Allow.
  if (clientId.toLowerCase().startsWith('ih_')) {
    return (
      <>
        <PageTitle>This link cannot be used</PageTitle>
        <p>The app's client id is one of your API keys. In the app's settings, give it any other name as its client id (for example <code>ksnip</code>), keep the key secret, and ask for a new link.</p>
      </>
    )
  }
  if (!CLIENT_ID.test(clientId) || query.get('response_type') !== 'pin') {
    return (
      <>
        <PageTitle>This link cannot be used</PageTitle>
        <p>An app's sign-in link needs a client id and <code>response_type=pin</code>. Ask the app for a new link.</p>
      </>
    )
  }

  const allow = async () => {
    setError(null)
    try {
      const answer = await api.auth<{ pin: string }>('POST', '/api/v1/app-pins', { client_id: clientId })
      show({ pin: answer.pin })
    } catch (caught) {
      setError(messageOf(caught))
    }
  }

  return (
    <>
      <PageTitle>Allow an app to upload</PageTitle>
      <p>The app <strong data-testid="client-id">“{clientId}”</strong> asks to upload images to your account. It cannot see or delete your images.</p>
      {outcome === null ? (
        <>
          <p>Allowing it gives it an upload-only API key, listed on <Link href="/keys">API keys</Link>, where you can revoke it at any time.</p>
          <div class="actions">
            <ActionButton onClick={allow} busyLabel="Allowing…">Allow</ActionButton>{' '}
            <button type="button" class="secondary" onClick={() => show({ cancelled: true })}>Cancel</button>
          </div>
          <Status error={error} />
        </>
      ) : 'pin' in outcome ? (
        <div class="new-key" role="region" aria-label="Your PIN" tabIndex={-1} ref={result} data-testid="pin-region">
          <p>Paste this PIN into the app. It works once, for 10 minutes.</p>
          <div class="snippet">
            <input readOnly value={outcome.pin} aria-label="PIN" data-testid="pin" class="pin" />
            <CopyButton text={outcome.pin} what="PIN" />
          </div>
        </div>
      ) : (
        <div tabIndex={-1} ref={result} data-testid="cancelled">
          <p>Nothing was allowed: the app was given no PIN and no key. You can close this page.</p>
        </div>
      )}
    </>
  )
}
