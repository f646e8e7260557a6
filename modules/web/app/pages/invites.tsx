import { useRef, useState } from 'preact/hooks'
import { ActionButton, Form, SubmitButton } from '../forms.tsx'
import { TableWrap } from '../table-wrap.tsx'
import { CopyButton, Field, Status, formatDate, messageOf, useLoad, useRefocus, useSession } from '../ui.tsx'

interface Invite {
  id: string
  prefix: string
  email: string | null
  plan_type: string | null
  status: 'pending' | 'used' | 'expired'
  expires_at: string
  used_at: string | null
  used_by: { id: string; username: string | null } | null
  created_by: string | null
  created_at: string
  /** While pending, for invites made since links are kept. */
  url: string | null
}

const REGISTRATION_NOTE: Record<string, string> = {
  open: 'Registration is open (REGISTRATION=open): anyone may sign up; an invite still grants its plan.',
  invite: 'Registration needs an invite (REGISTRATION=invite).',
  closed: 'Registration is closed (REGISTRATION=closed): invites do not work until it is opened.',
}

/** Admin › Invites: make a single-use sign-up link, copy it (again later from the list while it is pending), revoke the unused. */
export function InvitesPanel() {
  const { api } = useSession()
  const list = useLoad(() => api.auth<{ registration: string; invites: Invite[] }>('GET', '/api/v1/admin/invites'))
  const [created, setCreated] = useState<(Invite & { url: string }) | null>(null)
  const [status, setStatus] = useState<{ error?: string; message?: string }>({})
  const linkRegion = useRef<HTMLDivElement>(null)
  // The new link is what the person acts on next (copy it): the focus goes to it, off Create.
  const refocus = useRefocus(status)

  const create = async (event: Event) => {
    const form = event.currentTarget as HTMLFormElement
    const values = new FormData(form)
    const email = String(values.get('email') ?? '').trim()
    const plan = String(values.get('plan_type') ?? '')
    try {
      const answer = await api.auth('POST', '/api/v1/admin/invites', {
        ...(email ? { email } : {}),
        ...(plan ? { plan_type: plan } : {}),
        expires_in_days: Number(values.get('expires_in_days')) || 7,
      })
      refocus(() => linkRegion.current, { fromHere: true })
      setCreated(answer.invite)
      setStatus({ message: 'Invite created. Send its link to the person invited; it stays in the list below until it is used.' })
      form.reset()
      list.reload()
    } catch (e) {
      setStatus({ error: messageOf(e) })
    }
  }
  const revoke = async (invite: Invite) => {
    if (!confirm(`Revoke the invite ${invite.prefix}…? Its link stops working.`)) return
    try {
      await api.auth('DELETE', `/api/v1/admin/invites/${invite.id}`)
      setStatus({ message: `Invite ${invite.prefix}… revoked.` })
      if (created?.id === invite.id) setCreated(null)
      list.reload()
    } catch (e) {
      setStatus({ error: messageOf(e) })
    }
  }

  return (
    <>
      {list.data ? <p>{REGISTRATION_NOTE[list.data.registration]}</p> : null}
      <Form class="card-form" draft="new-invite" onSubmit={create}>
        <h2>New invite</h2>
        <div class="row">
          <Field label="Only for this email (optional)" id="f-invite-email" name="email" type="email" maxLength={254} />
          <div class="field">
            <label for="f-invite-plan">Plan</label>
            <select id="f-invite-plan" name="plan_type">
              <option value="">Default (free)</option>
              <option value="pro">pro</option>
              <option value="enterprise">enterprise</option>
            </select>
          </div>
          {/* defaultValue, not value: the page re-renders when its list loads, and a value would put 7 back over what was typed or restored. */}
          <Field label="Valid for (days)" id="f-invite-days" name="expires_in_days" type="number" min={1} max={90} defaultValue="7" />
        </div>
        <SubmitButton busyLabel="Creating…">Create invite</SubmitButton>
      </Form>
      <Status error={status.error ?? list.error} message={status.message} retry={list} />
      {created ? (
        <div class="new-key" role="region" aria-label="The new invite link" tabIndex={-1} ref={linkRegion}>
          <div class="snippet">
            <input readOnly value={created.url} aria-label="Invite link" data-testid="invite-link" />
            <CopyButton text={created.url} what="invite link" />
          </div>
        </div>
      ) : null}
      <h2>Invites</h2>
      {list.data && !list.data.invites.length ? <p>No invites yet.</p> : null}
      {list.data?.invites.length ? (
        <TableWrap label="Invites">
          <table class="invites">
            <thead>
              <tr>
                <th scope="col">Code</th>
                <th scope="col">For</th>
                <th scope="col">Plan</th>
                <th scope="col">Status</th>
                <th scope="col">Expires</th>
                <th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {list.data.invites.map((invite) => (
                <tr data-testid="invite-row">
                  <td><code>{invite.prefix}…</code></td>
                  <td>{invite.email ?? 'anyone with the link'}</td>
                  <td>{invite.plan_type ?? 'free'}</td>
                  <td>
                    <span class="badge">{invite.status}</span>
                    {invite.used_by ? ` by ${invite.used_by.username ?? 'a deleted account'}` : ''}
                  </td>
                  <td>{formatDate(invite.expires_at)}</td>
                  <td class="actions">
                    {invite.url ? <CopyButton text={invite.url} label="Copy link" what={`of invite ${invite.prefix}`} small /> : null}
                    {invite.status === 'pending' ? (
                      <ActionButton class="danger small" onClick={() => revoke(invite)} aria-label={`Revoke invite ${invite.prefix}`}>Revoke</ActionButton>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      ) : null}
    </>
  )
}
