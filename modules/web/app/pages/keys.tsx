import { useState } from 'preact/hooks'
import { CopyButton, Field, PageTitle, Status, formatDate, messageOf, useLoad, useSession } from '../ui.tsx'

interface ApiKey {
  id: string
  key_name: string
  prefix: string
  is_active: boolean
  rate_limit_per_hour: number
  requests_count: number
  last_used_at: string | null
  created_at: string
}

/** The .sxcu can only be made by presenting the key itself, so it is offered right after creation. */
async function downloadShareX(key: ApiKey & { key: string }) {
  const response = await fetch(`/api/v1/api-keys/${key.id}/sharex`, { headers: { 'x-api-key': key.key }, credentials: 'omit' })
  if (!response.ok) throw new Error(`ShareX file: the server answered ${response.status}`)
  const url = URL.createObjectURL(await response.blob())
  const link = document.createElement('a')
  link.href = url
  link.download = `imghost-${key.key_name.replace(/[^A-Za-z0-9_.-]+/g, '-')}.sxcu`
  link.click()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
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
  const keys = useLoad(async () => (await api.auth<{ api_keys: ApiKey[] }>('GET', '/api/v1/api-keys')).api_keys)
  const [created, setCreated] = useState<(ApiKey & { key: string }) | null>(null)
  const [status, setStatus] = useState<{ error?: string; message?: string }>({})

  const create = async (event: Event) => {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    const values = new FormData(form)
    const limit = Number(values.get('rate_limit_per_hour'))
    try {
      const answer = await api.auth('POST', '/api/v1/api-keys', {
        key_name: String(values.get('key_name')),
        ...(limit ? { rate_limit_per_hour: limit } : {}),
      })
      setCreated(answer.api_key)
      setStatus({ message: `Key “${answer.api_key.key_name}” created.` })
      form.reset()
      keys.reload()
    } catch (e) {
      setStatus({ error: messageOf(e) })
    }
  }
  const revoke = async (key: ApiKey) => {
    if (!confirm(`Revoke “${key.key_name}”? Anything using it stops working at once.`)) return
    try {
      await api.auth('DELETE', `/api/v1/api-keys/${key.id}`)
      setStatus({ message: `Key “${key.key_name}” revoked.` })
      if (created?.id === key.id) setCreated(null)
      keys.reload()
    } catch (e) {
      setStatus({ error: messageOf(e) })
    }
  }

  return (
    <section>
      <PageTitle>API keys</PageTitle>
      <p>Keys let ShareX, scripts and other apps upload and manage images for you. Treat each like a password.</p>
      <form class="card-form" onSubmit={create}>
        <h2>New key</h2>
        <div class="row">
          <Field label="Name" name="key_name" required maxLength={100} placeholder="e.g. ShareX on my laptop" />
          <Field label="Requests per hour (optional)" id="f-key-limit" name="rate_limit_per_hour" type="number" min={1} hint="Empty: your plan's limit" />
        </div>
        <button type="submit">Create key</button>
      </form>
      <Status error={status.error} message={status.message} />
      {created ? (
        <div class="new-key" role="region" aria-label="Your new key">
          <p class="warning"><strong>Copy this key now.</strong> It is shown only once; only a hash of it is kept.</p>
          <div class="snippet">
            <input readOnly value={created.key} aria-label="The new API key" data-testid="new-key" />
            <CopyButton text={created.key} what="API key" />
            <button type="button" class="secondary" onClick={() => downloadShareX(created).catch((e) => setStatus({ error: messageOf(e) }))}>Download ShareX config</button>
          </div>
          <Snippets apiKey={created.key} uploadUrl={api.config.upload_url} />
        </div>
      ) : null}
      <h2>Your keys</h2>
      {keys.error ? <Status error={keys.error} /> : null}
      {keys.data && !keys.data.length ? <p>No keys yet.</p> : null}
      {keys.data?.length ? (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key</th>
                <th scope="col">Limit / hour</th>
                <th scope="col">Requests</th>
                <th scope="col">Last used</th>
                <th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {keys.data.map((key) => (
                <tr>
                  <td>{key.key_name}</td>
                  <td><code>{key.prefix}…</code></td>
                  <td>{key.rate_limit_per_hour}</td>
                  <td>{key.requests_count}</td>
                  <td>{key.last_used_at ? formatDate(key.last_used_at) : 'never'}</td>
                  <td><button type="button" class="danger small" onClick={() => revoke(key)} aria-label={`Revoke ${key.key_name}`}>Revoke</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  )
}
