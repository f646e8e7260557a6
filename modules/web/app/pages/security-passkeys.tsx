import { startRegistration } from '@simplewebauthn/browser'
import { useState } from 'preact/hooks'
import { Form, SubmitButton } from '../forms.tsx'
import { Field, type FormWords, PASSWORD_MAX_LENGTH, Status, formatDate, messageOf, useLoad, useSession, wrongPassword } from '../ui.tsx'

interface Passkey {
  id: string
  name: string
  device_type: string
  backed_up: boolean
  created_at: string
  last_used_at: string | null
}

/** What a browser's WebAuthn error means to a person; a server's answer, in `words` (messageOf). */
export function passkeyError(error: unknown, words?: FormWords) {
  const name = (error as { name?: string })?.name
  if (name === 'NotAllowedError') return 'The passkey request was cancelled or timed out.'
  if (name === 'InvalidStateError') return 'This passkey is already registered.'
  if (name === 'SecurityError') return 'Passkeys need this site on https (or localhost) under its configured name.'
  return messageOf(error, words)
}

const REMOVE_PASSWORD_LABEL = 'Your password, to remove it'
const REMOVE_WORDS: FormWords = { codes: { invalid_password: wrongPassword(REMOVE_PASSWORD_LABEL) } }

function PasskeyRow({ passkey, onChanged }: { passkey: Passkey; onChanged: (message: string) => void }) {
  const { api, user } = useSession()
  const [mode, setMode] = useState<'view' | 'rename' | 'remove'>('view')
  const [error, setError] = useState<string | null>(null)
  const submit = async (event: Event) => {
    const form = Object.fromEntries(new FormData(event.currentTarget as HTMLFormElement)) as Record<string, string>
    try {
      if (mode === 'rename') await api.auth('PATCH', `/api/v1/auth/passkeys/${passkey.id}`, { name: form.name })
      else await api.auth('DELETE', `/api/v1/auth/passkeys/${passkey.id}`, { password: form.password || undefined })
      onChanged(mode === 'rename' ? 'Passkey renamed.' : 'Passkey removed.')
      setMode('view')
    } catch (e) {
      setError(messageOf(e, mode === 'remove' ? REMOVE_WORDS : {}))
    }
  }
  return (
    <li data-testid="passkey-row">
      <strong>{passkey.name}</strong>{' '}
      <span class="small muted">
        added {formatDate(passkey.created_at)}, last used {passkey.last_used_at ? formatDate(passkey.last_used_at) : 'never'}
        {passkey.backed_up ? ', synced' : ''}
      </span>
      {mode === 'view' ? (
        <span class="actions">
          {' '}<button type="button" class="secondary small" onClick={() => setMode('rename')}>Rename<span class="visually-hidden"> {passkey.name}</span></button>{' '}
          <button type="button" class="danger small" onClick={() => setMode('remove')}>Remove<span class="visually-hidden"> {passkey.name}</span></button>
        </span>
      ) : (
        <Form class="inline" onSubmit={submit}>
          {mode === 'rename' ? (
            <Field label="New name" id={`rename-${passkey.id}`} name="name" defaultValue={passkey.name} required maxLength={100} />
          ) : user?.provider === 'form' ? (
            <Field label={REMOVE_PASSWORD_LABEL} id={`remove-${passkey.id}`} name="password" type="password" autocomplete="current-password" required maxLength={PASSWORD_MAX_LENGTH} />
          ) : null}
          <SubmitButton class={mode === 'remove' ? 'danger small' : 'small'}>{mode === 'rename' ? 'Save' : 'Remove passkey'}</SubmitButton>
          <button type="button" class="secondary small" onClick={() => setMode('view')}>Cancel</button>
          <Status error={error} />
        </Form>
      )}
    </li>
  )
}

export function PasskeysPanel({ reload, showCodes }: { reload: () => void; showCodes: (codes: string[]) => void }) {
  const { api } = useSession()
  const list = useLoad(() => api.auth<{ passkeys: Passkey[] }>('GET', '/api/v1/auth/passkeys'))
  const [state, setState] = useState<{ error?: string; message?: string }>({})
  const changed = (message: string) => {
    setState({ message })
    list.reload()
    reload()
  }
  const add = async (event: Event) => {
    const form = event.currentTarget as HTMLFormElement
    const name = String(new FormData(form).get('name') ?? '').trim()
    try {
      const { challenge_token, options } = await api.auth('POST', '/api/v1/auth/passkeys/options')
      const response = await startRegistration({ optionsJSON: options })
      const answer = await api.auth('POST', '/api/v1/auth/passkeys', { challenge_token, name: name || undefined, response })
      form.reset()
      if (answer.recovery_codes) showCodes(answer.recovery_codes)
      changed(`Passkey “${answer.passkey.name}” added.`)
    } catch (e) {
      setState({ error: passkeyError(e) })
    }
  }
  return (
    <div class="panel">
      <h2>Passkeys</h2>
      <p>A passkey on this device, your phone or a security key: a second step at sign-in, or a sign-in on its own.</p>
      {list.data?.passkeys.length ? (
        <ul class="passkeys">{list.data.passkeys.map((passkey) => <PasskeyRow key={passkey.id} passkey={passkey} onChanged={changed} />)}</ul>
      ) : list.data ? <p class="muted">No passkeys yet.</p> : null}
      <Form onSubmit={add}>
        <Field label="Name for the new passkey (optional)" name="name" maxLength={100} placeholder="e.g. Laptop" />
        <SubmitButton busyLabel="Waiting for the passkey…">Add a passkey</SubmitButton>
      </Form>
      <Status error={state.error ?? list.error} message={state.message} retry={list} retryWhat="your passkeys" />
    </div>
  )
}
