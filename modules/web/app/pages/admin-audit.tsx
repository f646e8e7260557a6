import { useState } from 'preact/hooks'
import { Pager, listingError } from '../pager.tsx'
import { cursorsOf, navigate, useRouteContext, withCursors } from '../router.tsx'
import { Status, useLoad, useRefocus, useSession } from '../ui.tsx'
import { type AuditEvent, AuditTable } from './audit-events.tsx'

const PAGE_SIZE = 50
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const ACTION = /^[a-z0-9_.]{1,64}$/

/**
 * What the page shows lives in the address (`?user=&action=&cursors=`, as on /gallery), so a
 * reload or Back returns to the same filters and page.
 */
interface Listing {
  /** A username, an email address or an account id, as the admin typed it. */
  user: string
  action: string
  cursors: string[]
}

const listingOf = (params: URLSearchParams): Listing => ({
  user: params.get('user')?.trim() ?? '',
  action: params.get('action')?.trim().toLowerCase() ?? '',
  cursors: cursorsOf(params),
})

function hrefOf({ user, action, cursors }: Listing) {
  const params = new URLSearchParams()
  if (user) params.set('user', user)
  if (action) params.set('action', action)
  return withCursors('/admin/audit', cursors, params)
}

/**
 * The API's query for a listing. The users list shows usernames and email addresses, never ids,
 * so those are what an admin types; an id (36 characters, longer than any username) still works,
 * and finds the events of an account since deleted.
 */
function apiQueryOf({ user, action, cursors }: Listing) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) })
  if (user) query.set(UUID.test(user) ? 'user_id' : 'user', user)
  if (action) query.set('action', action)
  const cursor = cursors.at(-1)
  if (cursor) query.set('cursor', cursor)
  return query
}

/** Every audit event, filtered by account and by the start of the action name. */
export function AdminAudit() {
  const { api } = useSession()
  const listing = listingOf(useRouteContext().query)
  const shown = hrefOf(listing)
  const [invalid, setInvalid] = useState<string | null>(null)
  const page = useLoad(async () => {
    const answer = await api.auth<{ events: AuditEvent[]; next_cursor: string | null }>('GET', `/api/v1/admin/audit?${apiQueryOf(listing)}`)
    return { listing: shown, ...answer }
  }, [shown])
  const events = page.data?.events ?? []
  const pageAt = (cursors: string[]) => () => navigate(hrefOf({ ...listing, cursors }))
  // Only an answer for this listing gives the cursor after it.
  const nextCursor = page.data?.listing === shown ? page.data.next_cursor : null
  // Enter in a filter box re-creates the boxes whose text changed (each is keyed by its filter):
  // the new one of the box it was pressed in takes the focus.
  const filters = `${listing.user}\n${listing.action}`
  const refocusAfterFilter = useRefocus(filters)
  return (
    <>
      <form
        class="toolbar"
        role="search"
        onSubmit={(event) => {
          event.preventDefault()
          const form = new FormData(event.currentTarget)
          const user = String(form.get('user') ?? '').trim()
          const action = String(form.get('action') ?? '').trim().toLowerCase()
          if (user.length > 254) return setInvalid('Account: a username, an email address (at most 254 characters) or an account id.')
          if (action && !ACTION.test(action)) return setInvalid('Actions are made of letters, digits, dots and underscores, e.g. auth. or admin.user_blocked')
          setInvalid(null)
          const typedIn = document.activeElement?.id
          if (`${user}\n${action}` !== filters && typedIn) refocusAfterFilter(() => document.getElementById(typedIn))
          navigate(hrefOf({ user, action, cursors: [] }))
        }}
      >
        <label for="audit-user" class="visually-hidden">Account: username or email</label>
        {/* Keyed by the filter, so Back to another filter shows its text. */}
        <input key={`user:${listing.user}`} id="audit-user" name="user" placeholder="Username or email" defaultValue={listing.user} />
        <label for="audit-action" class="visually-hidden">Action or its start</label>
        <input key={`action:${listing.action}`} id="audit-action" name="action" placeholder="Action, e.g. auth. or admin." list="audit-actions" defaultValue={listing.action} />
        <datalist id="audit-actions">
          {['auth.', 'auth.login_failed', 'auth.login_throttled', 'account.', 'admin.', 'admin.report_', 'key.', 'moderation.'].map((a) => <option value={a} />)}
        </datalist>
        <button type="submit" class="secondary">Filter</button>
      </form>
      <Status error={invalid ?? listingError(page, 'the audit log', hrefOf({ ...listing, cursors: [] }))} retry={page} />
      {page.loading && !page.data ? <p aria-live="polite">Loading…</p> : null}
      {page.data?.listing === shown && !events.length ? <p>{listing.user ? `No events match for “${listing.user}”: check the username or email address.` : 'No events match.'}</p> : null}
      {events.length ? <AuditTable events={events} showUser /> : null}
      <Pager
        position={`Page ${listing.cursors.length + 1}`}
        toPrevious={listing.cursors.length ? pageAt(listing.cursors.slice(0, -1)) : null}
        toNext={nextCursor ? pageAt([...listing.cursors, nextCursor]) : null}
        shown={page.data}
      />
    </>
  )
}
