import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError } from '../api.ts'
import { ActionButton, Form, SubmitButton } from '../forms.tsx'
import { CopyButton, Field, type FormWords, PageTitle, Status, formatDate, labelled, messageOf, useFieldStatus, useLoad, useRowFocus, useSession } from '../ui.tsx'

/** Kept in step with DOMAIN_EVENT_TYPES in src/events/index.ts (the API refuses anything else). */
const EVENTS: [string, string][] = [
  ['image.uploaded', 'An image is uploaded'],
  ['image.deleted', 'An image is deleted'],
  ['image.expired', 'An image expires'],
  ['album.created', 'An album is created'],
  ['album.expired', 'An album expires'],
  ['quota.warning', 'Storage passes 80% or 100%'],
]

/**
 * The API's refusals of the Endpoint URL (modules/webhooks/service.ts `checkTargetUrl`): its form,
 * and where it leads (a private or loopback address, a host that does not resolve).
 */
const URL_REFUSALS = ['invalid_webhook_url', 'webhook_url_not_allowed', 'webhook_url_unresolvable']

/** The API's refusals of a new webhook, as the form labels its fields. */
const NEW_WEBHOOK_WORDS: FormWords = {
  codes: Object.fromEntries(URL_REFUSALS.map((code) => [code, labelled('Endpoint URL', 'url')])),
}

interface Webhook {
  id: string
  url: string
  description: string
  events: string[]
  enabled: boolean
  disabled_reason: string | null
  created_at: string
}

interface Delivery {
  id: string
  event_type: string
  status: 'pending' | 'delivered' | 'failed'
  attempts: number
  last_status_code: number | null
  last_latency_ms: number | null
  last_response: string | null
  last_error: string | null
  next_attempt_at: string
  created_at: string
}

function DeliveryLog({ webhook, onStatus }: { webhook: Webhook; onStatus: (s: { error?: string; message?: string }) => void }) {
  const { api } = useSession()
  const log = useLoad(async () => (await api.auth<{ deliveries: Delivery[] }>('GET', `/api/v1/webhooks/${webhook.id}/deliveries?limit=20`)).deliveries, [webhook.id])
  const replay = async (delivery: Delivery) => {
    try {
      await api.auth('POST', `/api/v1/webhooks/${webhook.id}/deliveries/${delivery.id}/replay`)
      onStatus({ message: `${delivery.event_type} queued again.` })
      setTimeout(log.reload, 1500)
      log.reload()
    } catch (e) {
      onStatus({ error: messageOf(e) })
    }
  }
  return (
    <div class="table-wrap" role="region" aria-label={`Deliveries to ${webhook.url}`}>
      <div class="toolbar">
        <button type="button" class="secondary small" onClick={log.reload}>Refresh log<span class="visually-hidden"> of deliveries to {webhook.url}</span></button>
      </div>
      {log.error ? <Status error={log.error} /> : null}
      {log.data && !log.data.length ? <p>No deliveries yet.</p> : null}
      {log.data?.length ? (
        <table class="deliveries">
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">Status</th>
              <th scope="col">Answer</th>
              <th scope="col">Latency</th>
              <th scope="col">Attempts</th>
              <th scope="col">When</th>
              <th scope="col"><span class="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {log.data.map((d) => (
              <tr data-testid="delivery">
                <td>{d.event_type}</td>
                <td><span class={`badge ${d.status === 'delivered' ? 'public' : d.status === 'failed' ? 'private' : ''}`}>{d.status}</span></td>
                <td>
                  {d.last_status_code ?? '–'}
                  {d.last_error ? <div class="small muted">{d.last_error}</div> : null}
                  {d.last_response ? <details><summary class="small">Response</summary><pre tabIndex={0}>{d.last_response}</pre></details> : null}
                </td>
                <td>{d.last_latency_ms === null ? '–' : `${d.last_latency_ms} ms`}</td>
                <td>{d.attempts}</td>
                <td>{formatDate(d.created_at)}</td>
                <td><ActionButton class="secondary small" onClick={() => replay(d)} aria-label={`Replay ${d.event_type} of ${formatDate(d.created_at)} to ${webhook.url}`}>Replay</ActionButton></td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  )
}

function WebhookItem({ webhook, reload, onStatus, onRemoved }: { webhook: Webhook; reload: () => void; onStatus: (s: { error?: string; message?: string }) => void; onRemoved: () => void }) {
  const { api } = useSession()
  const [showLog, setShowLog] = useState(false)
  const [logKey, setLogKey] = useState(0)
  const act = async (work: () => Promise<unknown>, message: string, done?: () => void) => {
    try {
      await work()
      onStatus({ message })
      done?.()
      reload()
    } catch (e) {
      onStatus({ error: messageOf(e) })
    }
  }
  // The switch shows what was asked at once: any redraw before the list reloads (the ping's
  // timer, a status line) would otherwise put the old state back under the person's click.
  const [enabled, setEnabled] = useState(webhook.enabled)
  useEffect(() => setEnabled(webhook.enabled), [webhook.enabled])
  const toggle = (wanted: boolean) => {
    setEnabled(wanted)
    return act(
      async () => {
        try {
          await api.auth('PATCH', `/api/v1/webhooks/${webhook.id}`, { enabled: wanted })
        } catch (error) {
          setEnabled(webhook.enabled)
          throw error
        }
      },
      wanted ? 'Webhook enabled.' : 'Webhook disabled.',
    )
  }
  const ping = () =>
    act(async () => {
      await api.auth('POST', `/api/v1/webhooks/${webhook.id}/test`)
      setShowLog(true)
      // The worker sends within a second or two; show the result without a manual refresh.
      setTimeout(() => setLogKey((n) => n + 1), 2000)
    }, 'Test ping queued; it appears in the delivery log.')
  const remove = () => {
    if (!confirm(`Delete the webhook to ${webhook.url} and its delivery log?`)) return
    return act(() => api.auth('DELETE', `/api/v1/webhooks/${webhook.id}`), 'Webhook deleted.', onRemoved)
  }
  return (
    <li class="panel webhook" data-testid="webhook">
      <p><code>{webhook.url}</code>{webhook.description ? <span class="muted"> — {webhook.description}</span> : null}</p>
      <p class="small">Events: {webhook.events.join(', ')}</p>
      {webhook.disabled_reason === 'failing_for_a_day' ? <p class="warning small">Switched off after a day of failed deliveries. Fix the endpoint, then enable it again.</p> : null}
      <div class="toolbar actions">
        <label class="check">
          <input type="checkbox" role="switch" checked={enabled} onChange={(event) => toggle((event.currentTarget as HTMLInputElement).checked)} /> Enabled
          {/* Each row's controls name their webhook: with two, "Enabled" alone does not say which. */}
          <span class="visually-hidden"> webhook to {webhook.url}</span>
        </label>
        <ActionButton class="secondary small" onClick={ping} disabled={!webhook.enabled}>Send test ping<span class="visually-hidden"> to {webhook.url}</span></ActionButton>
        <button type="button" class="secondary small" aria-expanded={showLog} onClick={() => setShowLog(!showLog)}>{showLog ? 'Hide' : 'Show'} deliveries<span class="visually-hidden"> to {webhook.url}</span></button>
        <ActionButton class="danger small" onClick={remove} aria-label={`Delete webhook to ${webhook.url}`}>Delete</ActionButton>
      </div>
      {showLog ? <DeliveryLog key={logKey} webhook={webhook} onStatus={onStatus} /> : null}
    </li>
  )
}

export function WebhooksPage() {
  const { api } = useSession()
  const hooks = useLoad(async () => (await api.auth<{ webhooks: Webhook[] }>('GET', '/api/v1/webhooks')).webhooks)
  const [secret, setSecret] = useState<string | null>(null)
  // The answer to Create is what the person acts on next: the secret shown once, or the URL or events refused.
  const { status, setStatus, refocus: refocusAfterCreate, refuse, errorOf } = useFieldStatus('webhook-error', (field) => (field === 'events' ? 'fieldset.events' : `[name="${field}"]`))
  const rows = useRef<HTMLUListElement>(null)
  const empty = useRef<HTMLParagraphElement>(null)
  // Delete takes its row away: the focus goes to the next row's first action, or to the empty list's message.
  const refocus = useRowFocus(rows, empty, hooks.data)
  const secretRegion = useRef<HTMLDivElement>(null)

  const create = async (event: Event) => {
    const form = event.currentTarget as HTMLFormElement
    const values = new FormData(form)
    const events = values.getAll('events').map(String)
    if (!events.length) return refuse(form, 'Events: choose at least one.', 'events')
    try {
      const answer = await api.auth('POST', '/api/v1/webhooks', { url: String(values.get('url')), events, description: String(values.get('description') ?? '') })
      refocusAfterCreate(() => secretRegion.current, { fromHere: true })
      setSecret(answer.webhook.secret)
      setStatus({ message: 'Webhook created.' })
      form.reset()
      hooks.reload()
    } catch (e) {
      const aboutUrl = e instanceof ApiError && (URL_REFUSALS.includes(e.code) || e.details.some((problem) => problem.field === 'url'))
      refuse(form, messageOf(e, NEW_WEBHOOK_WORDS), aboutUrl ? 'url' : null)
    }
  }

  return (
    <section>
      <PageTitle>Webhooks</PageTitle>
      <p>
        A webhook POSTs a JSON event to your URL when something happens in your account, signed in the{' '}
        <a href="https://www.standardwebhooks.com/" rel="noreferrer">Standard Webhooks</a> format. Failed deliveries are retried for a day.
      </p>
      <Form class="card-form" draft="new-webhook" onSubmit={create}>
        <h2>New webhook</h2>
        <div class="row">
          <Field label="Endpoint URL" name="url" type="url" required maxLength={2048} placeholder="https://example.com/hooks/imghost" errorId={errorOf('url')} />
          <Field label="Description (optional)" name="description" maxLength={200} />
        </div>
        <fieldset class="events" tabIndex={-1} aria-invalid={errorOf('events') ? true : undefined} aria-describedby={errorOf('events')}>
          <legend>Events</legend>
          {EVENTS.map(([type, label]) => (
            <label class="check">
              <input type="checkbox" name="events" value={type} defaultChecked={type === 'image.uploaded'} /> {label} <code class="small">{type}</code>
            </label>
          ))}
        </fieldset>
        <SubmitButton busyLabel="Creating…">Create webhook</SubmitButton>
      </Form>
      <Status error={status.error} message={status.message} errorId="webhook-error" />
      {secret ? (
        <div class="new-key" role="region" aria-label="Your webhook secret" tabIndex={-1} ref={secretRegion}>
          <p class="warning"><strong>Copy this signing secret now.</strong> It is shown only once; use it to verify the webhook-signature header.</p>
          <div class="snippet">
            <input readOnly value={secret} aria-label="The webhook signing secret" data-testid="webhook-secret" />
            <CopyButton text={secret} what="signing secret" />
          </div>
        </div>
      ) : null}
      <h2>Your webhooks</h2>
      <Status error={hooks.error} retry={hooks} />
      {hooks.data && !hooks.data.length ? <p tabIndex={-1} ref={empty}>No webhooks yet.</p> : null}
      <ul class="webhooks" ref={rows}>
        {hooks.data?.map((webhook, index) => <WebhookItem key={webhook.id} webhook={webhook} reload={hooks.reload} onStatus={setStatus} onRemoved={() => refocus(index)} />)}
      </ul>
    </section>
  )
}
