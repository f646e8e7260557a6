import { actionLabel, detailText } from '../audit-words.ts'
import { TableWrap } from '../table-wrap.tsx'
import { formatDate } from '../ui.tsx'

export interface AuditEvent {
  id: number
  action: string
  user: { id: string; username: string | null } | null
  actor: { id: string; username: string | null } | null
  ip: string | null
  user_agent: string | null
  detail: Record<string, unknown>
  created_at: string
}

/** The events as a table; `showUser` adds the account column (the admin page). */
export function AuditTable({ events, showUser = false }: { events: AuditEvent[]; showUser?: boolean }) {
  return (
    <TableWrap label={showUser ? 'Audit log' : 'Your activity'}>
      <table class="audit">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">What</th>
            {showUser ? <th scope="col">Account</th> : null}
            <th scope="col">By</th>
            <th scope="col">From</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <tr data-testid="audit-row" data-action={event.action}>
              <td class="nowrap">{formatDate(event.created_at)}</td>
              <td>
                <strong>{actionLabel(event.action)}</strong>
                {/* The action's name is what the admin page's filter takes; the person's own page does without it. */}
                {showUser ? <><br /><code class="small">{event.action}</code></> : null}
                {Object.keys(event.detail).length ? <><br /><span class="small muted">{detailText(event.action, event.detail)}</span></> : null}
              </td>
              {showUser ? <td>{event.user ? (event.user.username ?? event.user.id) : '–'}</td> : null}
              <td>{event.actor ? (event.actor.username ?? event.actor.id) : <span class="muted">system / unknown</span>}</td>
              <td>
                {event.ip ?? '–'}
                {event.user_agent ? <><br /><span class="small muted ua">{event.user_agent}</span></> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  )
}
