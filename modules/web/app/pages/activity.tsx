import { useEffect, useState } from 'preact/hooks'
import { ActionButton } from '../forms.tsx'
import { PageTitle, Status, messageOf, useSession } from '../ui.tsx'
import { type AuditEvent, AuditTable } from './audit-events.tsx'

/** A paged list of audit events from `path` (cursor paging: "Show older" appends the next page). */
export function useAuditPages(path: string, deps: unknown[] = []) {
  const { api } = useSession()
  const [events, setEvents] = useState<AuditEvent[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [loading, setLoading] = useState(true)
  const load = async (from: string | null, replace: boolean) => {
    setLoading(true)
    try {
      const sep = path.includes('?') ? '&' : '?'
      const page = await api.auth<{ events: AuditEvent[]; next_cursor: string | null }>('GET', `${path}${from ? `${sep}cursor=${from}` : ''}`)
      setEvents((shown) => (replace ? page.events : [...shown, ...page.events]))
      setCursor(page.next_cursor)
      setError(null)
    } catch (e) {
      setError(messageOf(e))
    } finally {
      setLoading(false)
    }
  }
  useEffect(() => void load(null, true), [path, ...deps])
  return { events, error, loading, more: cursor ? () => load(cursor, false) : null }
}

/** The signed-in person's own security events: sign-ins, password and address changes, what admins did. */
export function ActivityPage() {
  const pages = useAuditPages('/api/v1/account/audit?limit=50')
  return (
    <section>
      <PageTitle>Activity</PageTitle>
      <p class="muted">Security events of your account, newest first: sign-ins (and failed attempts), password and email changes, and what administrators changed. Something you do not recognise? Change your password on the Account page (which signs out every session), and see where you are signed in on the Security page.</p>
      <Status error={pages.error} />
      {pages.events.length === 0 && !pages.loading ? <p>No events yet.</p> : <AuditTable events={pages.events} />}
      {pages.more ? <ActionButton class="secondary" disabled={pages.loading} onClick={pages.more}>Show older</ActionButton> : null}
    </section>
  )
}
