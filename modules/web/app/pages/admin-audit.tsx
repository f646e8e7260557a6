import { useState } from 'preact/hooks'
import { ActionButton } from '../forms.tsx'
import { Status } from '../ui.tsx'
import { useAuditPages } from './activity.tsx'
import { AuditTable } from './audit-events.tsx'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Every audit event, filtered by account id and by the start of the action name. */
export function AdminAudit() {
  const [filter, setFilter] = useState({ user: '', action: '' })
  const [invalid, setInvalid] = useState<string | null>(null)
  const query = new URLSearchParams({ limit: '50' })
  if (filter.user) query.set('user_id', filter.user)
  if (filter.action) query.set('action', filter.action)
  const pages = useAuditPages(`/api/v1/admin/audit?${query}`)
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
          if (user && !UUID.test(user)) return setInvalid('The account id is a UUID, as shown in the users list.')
          if (action && !/^[a-z0-9_.]{1,64}$/.test(action)) return setInvalid('Actions are made of letters, digits, dots and underscores, e.g. auth. or admin.user_blocked')
          setInvalid(null)
          setFilter({ user, action })
        }}
      >
        <label for="audit-user" class="visually-hidden">Account id</label>
        <input id="audit-user" name="user" placeholder="Account id (UUID)" />
        <label for="audit-action" class="visually-hidden">Action or its start</label>
        <input id="audit-action" name="action" placeholder="Action, e.g. auth. or admin." list="audit-actions" />
        <datalist id="audit-actions">
          {['auth.', 'auth.login_failed', 'auth.login_throttled', 'account.', 'admin.', 'admin.report_', 'key.', 'moderation.'].map((a) => <option value={a} />)}
        </datalist>
        <button type="submit" class="secondary">Filter</button>
      </form>
      <Status error={invalid ?? pages.error} />
      {pages.events.length === 0 && !pages.loading ? <p>No events match.</p> : <AuditTable events={pages.events} showUser />}
      {pages.more ? <ActionButton class="secondary" disabled={pages.loading} onClick={pages.more}>Show older</ActionButton> : null}
    </>
  )
}
