import { useRef, useState } from 'preact/hooks'
import { type Api, ApiError } from '../api.ts'
import { ActionButton, Form, SubmitButton } from '../forms.tsx'
import { TableWrap } from '../table-wrap.tsx'
import { CopyButton, Field, type FormWords, PageTitle, Status, formatDate, messageOf, useFieldStatus, useLoad, useSession } from '../ui.tsx'

interface ApiKey {
  id: string
  key_name: string
  prefix: string
  is_active: boolean
  rate_limit_per_hour: number
  requests_count: number
  last_used_at: string | null
  created_at: string
  scopes: string[]
  expires_at: string | null
  is_expired: boolean
  allowed_ips: string[] | null
}

/** The server's scopes (src/auth/scopes.ts), with what each lets a key do. */
const SCOPES: [string, string][] = [
  ['upload', 'Upload images (ShareX, scripts, compatible apps)'],
  ['images:read', 'List and read your images'],
  ['images:write', 'Edit and delete your images'],
  ['albums', 'Manage albums'],
  ['stats', 'Read view statistics'],
]
const EXPIRY_DAYS: [string, string][] = [['', 'Never'], ['1', '1 day'], ['7', '7 days'], ['30', '30 days'], ['90', '90 days'], ['365', '1 year']]
/** How long the images a ShareX file uploads live: the upload's own `expires_in` values. */
const UPLOAD_EXPIRY: [string, string][] = [['', 'Never'], ['1h', '1 hour'], ['1d', '1 day'], ['7d', '7 days'], ['30d', '30 days']]

/** The API's limits for a new key (modules/account/model.ts, `createKey`); the plan's requests per hour is lower, and the list says it. */
const MAX_REQUESTS_PER_HOUR = 1_000_000
const MAX_IP_RANGES = 50

const IP_RANGE_RULE = 'Allowed IP ranges: each must be an IPv4 or IPv6 address or CIDR range, such as 203.0.113.0/24 or 2001:db8::/32.'

/** The entry the API refused (its `details`, modules/account/api-keys.ts), as words that name it. */
const refusedRangeOf = (error: ApiError) => {
  const entry = error.details[0]?.value
  return entry === undefined ? '' : ` “${entry}” is not one.`
}

/** `limit`, as the form shows figures: "1,000". */
const figure = (limit: number) => limit.toLocaleString('en')

/**
 * What the API may refuse in the new-key form, as the form labels it. `planLimit`: the plan's
 * requests per hour (the list's `plan_rate_limit_per_hour`), unknown while the list has not come.
 */
const keyWords = (planLimit: number | undefined): FormWords => ({
  codes: {
    invalid_cidr: (_message, error) => `${IP_RANGE_RULE}${refusedRangeOf(error)}`,
    rate_limit_above_plan: planLimit ? `Requests per hour: at most ${figure(planLimit)} on your plan.` : 'Requests per hour: more than your plan allows.',
  },
  fields: {
    key_name: () => 'Name: use 1 to 100 characters, not only spaces.',
    rate_limit_per_hour: () => `Requests per hour: a whole number from 1 to ${figure(planLimit ?? MAX_REQUESTS_PER_HOUR)}, or empty for your plan's limit.`,
    scopes: () => 'What the key may do: choose at least one.',
    expires_at: () => 'Expires: choose one of the offered times.',
    allowed_ips: ([index]) =>
      index === undefined
        ? `Allowed IP ranges: at most ${MAX_IP_RANGES}.`
        : `Allowed IP ranges: range ${Number(index) + 1} is too long (at most 64 characters).`,
  },
})

/** Each field of the form a refusal can be about (by the API's name), as a selector, so the focus can go there. */
const FIELDS: Record<string, string> = { key_name: '[name="key_name"]', rate_limit_per_hour: '#f-key-limit', scopes: 'fieldset.scopes', expires_at: '#f-key-expiry', allowed_ips: '#f-key-ips' }

/** The form's field an API refusal names (the API's name for it), or null. */
function fieldAtFault(error: ApiError): string | null {
  const field = error.code === 'invalid_cidr' ? 'allowed_ips' : error.details[0]?.field.split('.')[0]
  return field && FIELDS[field] ? field : null
}

/** The id of the form's refusal, which describes the field it is about. */
const KEY_ERROR = 'key-error'

/**
 * Only a hash of each key is kept, so the .sxcu is made from the key the page still holds, right
 * after creating it. It is sent in the body with the session, not used as the key: that would be
 * refused for a key limited to other addresses, and would count as the key's first use.
 */
async function downloadShareX(api: Api, key: ApiKey & { key: string }, expiresIn: string) {
  const uploader = await api.auth('POST', `/api/v1/api-keys/${key.id}/sharex`, { key: key.key, ...(expiresIn ? { expires_in: expiresIn } : {}) })
  const url = URL.createObjectURL(new Blob([JSON.stringify(uploader, null, 2)], { type: 'application/json' }))
  const link = document.createElement('a')
  link.href = url
  link.download = `imghost-${key.key_name.replace(/[^A-Za-z0-9_.-]+/g, '-')}${expiresIn ? `-${expiresIn}` : ''}.sxcu`
  link.click()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

function ShareXDownload({ apiKey, onError }: { apiKey: ApiKey & { key: string }; onError: (message: string) => void }) {
  const { api } = useSession()
  const [expiresIn, setExpiresIn] = useState('')
  return (
    <>
      <label for="f-sharex-expiry">Images it uploads expire</label>
      <select id="f-sharex-expiry" value={expiresIn} onChange={(event) => setExpiresIn((event.currentTarget as HTMLSelectElement).value)}>
        {UPLOAD_EXPIRY.map(([value, label]) => <option value={value}>{label}</option>)}
      </select>
      <ActionButton class="secondary" onClick={() => downloadShareX(api, apiKey, expiresIn).catch((e) => onError(`ShareX file: ${messageOf(e)}`))}>Download ShareX config</ActionButton>
    </>
  )
}

function Snippets({ apiKey, uploadUrl }: { apiKey: string; uploadUrl: string }) {
  const curl = `curl -H "X-API-Key: ${apiKey}" -F "file=@screenshot.png" ${uploadUrl}/upload`
  const flameshot = `#!/bin/sh
# Take a screenshot with Flameshot, upload it, copy the link.
flameshot gui -r > /tmp/shot.png && \\
curl -s -H "X-API-Key: ${apiKey}" -F "file=@/tmp/shot.png" ${uploadUrl}/upload \\
  | sed -n 's/.*"url":"\\([^"]*\\)".*/\\1/p' | xclip -selection clipboard`
  return (
    <div class="snippets-block">
      <h3>curl</h3>
      <pre tabIndex={0}>{curl}</pre>
      <CopyButton text={curl} what="curl command" />
      <h3>Flameshot (Linux)</h3>
      <pre tabIndex={0}>{flameshot}</pre>
      <CopyButton text={flameshot} what="Flameshot script" />
    </div>
  )
}

export function KeysPage() {
  const { api } = useSession()
  const list = useLoad(() => api.auth<{ api_keys: ApiKey[]; plan_rate_limit_per_hour: number }>('GET', '/api/v1/api-keys'))
  const keys = { ...list, data: list.data?.api_keys }
  // A key may ask for fewer requests than the plan allows, not more (400 rate_limit_above_plan).
  const planLimit = list.data?.plan_rate_limit_per_hour
  const [created, setCreated] = useState<(ApiKey & { key: string }) | null>(null)
  // The answer to Create is what the person acts on next: the key shown once, or the field at fault.
  const { status, setStatus, refocus, refuse, errorOf } = useFieldStatus(KEY_ERROR, (field) => FIELDS[field]!)
  const listHeading = useRef<HTMLHeadingElement>(null)
  const newKey = useRef<HTMLDivElement>(null)

  const create = async (event: Event) => {
    setStatus({})
    const form = event.currentTarget as HTMLFormElement
    const values = new FormData(form)
    const limit = Number(values.get('rate_limit_per_hour'))
    const scopes = values.getAll('scopes').map(String)
    const days = Number(values.get('expires_in_days'))
    const ranges = String(values.get('allowed_ips') ?? '').split(/[\s,]+/).filter(Boolean)
    // The API stores the name trimmed and refuses spaces alone: the list could not tell that key from another.
    if (!String(values.get('key_name') ?? '').trim()) return refuse(form, 'Name: must not be only spaces.', 'key_name')
    if (!scopes.length) return refuse(form, 'What the key may do: choose at least one.', 'scopes')
    if (ranges.length > MAX_IP_RANGES) return refuse(form, `Allowed IP ranges: at most ${MAX_IP_RANGES} (there are ${ranges.length}).`, 'allowed_ips')
    try {
      const answer = await api.auth('POST', '/api/v1/api-keys', {
        key_name: String(values.get('key_name')),
        ...(limit ? { rate_limit_per_hour: limit } : {}),
        scopes,
        ...(days ? { expires_at: new Date(Date.now() + days * 86_400_000).toISOString() } : {}),
        ...(ranges.length ? { allowed_ips: ranges } : {}),
      })
      refocus(() => newKey.current, { fromHere: true })
      setCreated(answer.api_key)
      setStatus({ message: `Key “${answer.api_key.key_name}” created.` })
      form.reset()
      keys.reload()
    } catch (e) {
      refuse(form, messageOf(e, keyWords(planLimit)), e instanceof ApiError ? fieldAtFault(e) : null)
    }
  }
  const revoke = async (key: ApiKey) => {
    if (!confirm(`Revoke “${key.key_name}”? Anything using it stops working at once.`)) return
    try {
      await api.auth('DELETE', `/api/v1/api-keys/${key.id}`)
      setStatus({ message: `Key “${key.key_name}” revoked.` })
      if (created?.id === key.id) setCreated(null)
      // Its button goes with its row. The focus goes to the list's heading, not to the next
      // key's Revoke button, where one more Enter would start revoking that key too.
      listHeading.current?.focus()
      keys.reload()
    } catch (e) {
      setStatus({ error: messageOf(e) })
    }
  }

  return (
    <section>
      <PageTitle>API keys</PageTitle>
      <p>Keys let ShareX, scripts and other apps upload and manage images for you. Treat each like a password.</p>
      {/* The browser's own refusal (an empty name, a limit out of range) sends no submit event: the
          error of an earlier submit must not stay on screen as if it were about this one. */}
      <Form class="card-form" draft="new-key" onSubmit={create} onInvalidCapture={() => setStatus({})}>
        <h2>New key</h2>
        <div class="row">
          <Field label="Name" name="key_name" required maxLength={100} placeholder="e.g. ShareX on my laptop" errorId={errorOf('key_name')} />
          <Field
            label="Requests per hour (optional)"
            id="f-key-limit"
            name="rate_limit_per_hour"
            type="number"
            min={1}
            max={planLimit ?? MAX_REQUESTS_PER_HOUR}
            step={1}
            hint={planLimit ? `1 to ${figure(planLimit)} on your plan. Empty: your plan's limit` : `Empty: your plan's limit`}
            errorId={errorOf('rate_limit_per_hour')}
          />
        </div>
        <fieldset class="scopes" tabIndex={-1} aria-invalid={errorOf('scopes') ? true : undefined} aria-describedby={errorOf('scopes')}>
          <legend>What the key may do</legend>
          {SCOPES.map(([scope, description]) => (
            <label class="check">
              <input type="checkbox" name="scopes" value={scope} defaultChecked /> <code>{scope}</code> {description}
            </label>
          ))}
        </fieldset>
        <div class="row">
          <div class="field">
            <label for="f-key-expiry">Expires</label>
            <select id="f-key-expiry" name="expires_in_days" aria-invalid={errorOf('expires_at') ? true : undefined} aria-describedby={errorOf('expires_at')}>
              {EXPIRY_DAYS.map(([value, label]) => <option value={value}>{label}</option>)}
            </select>
          </div>
          <div class="field">
            <label for="f-key-ips">Allowed IP ranges (optional)</label>
            <textarea id="f-key-ips" name="allowed_ips" rows={2} placeholder="203.0.113.0/24, 2001:db8::/32" aria-invalid={errorOf('allowed_ips') ? true : undefined} aria-describedby={[errorOf('allowed_ips'), 'f-key-ips-hint'].filter(Boolean).join(' ')} />
            <small id="f-key-ips-hint">One per line or comma-separated, IPv4 or IPv6. Empty: any address.</small>
          </div>
        </div>
        <SubmitButton busyLabel="Creating…">Create key</SubmitButton>
      </Form>
      <Status error={status.error} message={status.message} errorId={KEY_ERROR} />
      {created ? (
        <div class="new-key" role="region" aria-label="Your new key" tabIndex={-1} ref={newKey} data-testid="new-key-region">
          <p class="warning"><strong>Copy this key now.</strong> It is shown only once; only a hash of it is kept.</p>
          <div class="snippet">
            <input readOnly value={created.key} aria-label="The new API key" data-testid="new-key" />
            <CopyButton text={created.key} what="API key" />
            {/* ShareX uploads with the key: without the upload scope its config could only fail. */}
            {created.scopes.includes('upload') ? <ShareXDownload apiKey={created} onError={(error) => setStatus({ error })} /> : null}
          </div>
          <Snippets apiKey={created.key} uploadUrl={api.config.upload_url} />
        </div>
      ) : null}
      <h2 tabIndex={-1} ref={listHeading}>Your keys</h2>
      <Status error={keys.error} retry={keys} />
      {keys.data && !keys.data.length ? <p>No keys yet.</p> : null}
      {keys.data?.length ? (
        <TableWrap label="Your keys">
          <table class="keys">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Limit / hour</th>
                <th scope="col">Requests</th>
                <th scope="col">Last used</th>
                <th scope="col">Scopes</th>
                <th scope="col">Expires</th>
                <th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {keys.data.map((key) => (
                <tr key={key.id} data-testid="key-row">
                  <td>{key.key_name}</td>
                  <td><code>{key.prefix}…</code></td>
                  <td>{key.rate_limit_per_hour}</td>
                  <td>{key.requests_count}</td>
                  <td>{key.last_used_at ? formatDate(key.last_used_at) : 'never'}</td>
                  <td>
                    {key.scopes.length === SCOPES.length ? 'all' : key.scopes.join(', ')}
                    {key.allowed_ips ? <><br /><small>from {key.allowed_ips.join(', ')}</small></> : null}
                  </td>
                  <td>{key.is_expired ? <span class="badge expired">expired</span> : key.expires_at ? formatDate(key.expires_at) : 'never'}</td>
                  <td><ActionButton class="danger small" onClick={() => revoke(key)} aria-label={`Revoke ${key.key_name} (${key.prefix}…)`}>Revoke</ActionButton></td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      ) : null}
    </section>
  )
}
