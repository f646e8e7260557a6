import { useEffect, useState } from 'preact/hooks'
import { ActionButton } from '../forms.tsx'
import { failedLoad, PageTitle, Status, useSession } from '../ui.tsx'
import { type AuditEvent, AuditTable } from './audit-events.tsx'

/**
 * A paged list of audit events from `path` (cursor paging: "Show older" appends the next page).
 * `data`: the events, undefined until the first page came; with `error`, `loading` and `reload`
 * (the first page again) it is what a `Status` offers Try again with.
 */
export function useAuditPages(path: string, deps: unknown[] = []) {
  const { api } = useSession()
  const [events, setEvents] = useState<AuditEvent[] | undefined>(undefined)
  const [cursor, setCursor] = useState<string | null>(null)
  const [failure, setFailure] = useState<ReturnType<typeof failedLoad> | null>(null)
  const [loading, setLoading] = useState(true)
  const load = async (from: string | null, replace: boolean) => {
    setLoading(true)
    try {
      const sep = path.includes('?') ? '&' : '?'
      const page = await api.auth<{ events: AuditEvent[]; next_cursor: string | null }>('GET', `${path}${from ? `${sep}cursor=${from}` : ''}`)
      setEvents((shown) => (replace ? page.events : [...(shown ?? []), ...page.events]))
      setCursor(page.next_cursor)
      setFailure(null)
    } catch (e) {
      setFailure(failedLoad(e))
    } finally {
      setLoading(false)
    }
  }
  useEffect(() => void load(null, true), [path, ...deps])
  return { data: events, error: failure?.error, retryable: failure?.retryable, loading, reload: () => void load(null, true), more: cursor ? () => load(cursor, false) : null }
}

/** The signed-in person's own security events: sign-ins, password and address changes, what admins did. */
export function ActivityPage() {
  const pages = useAuditPages('/api/v1/account/audit?limit=50')
  return (
    <section>
      <PageTitle>Activity</PageTitle>
      <p class="muted">Security events of your account, newest first: sign-ins (and failed attempts), password and email changes, and what administrators changed. Something you do not recognise? Change your password on the Account page (which signs out every session), and see where you are signed in on the Security page.</p>
      <Status error={pages.error} retry={pages} />
      {/* Not "No events yet." for events that could not be read. */}
      {pages.data?.length === 0 ? <p>No events yet.</p> : pages.data ? <AuditTable events={pages.data} /> : null}
      {pages.more ? <ActionButton class="secondary" disabled={pages.loading} onClick={pages.more}>Show older</ActionButton> : null}
    </section>
  )
}
