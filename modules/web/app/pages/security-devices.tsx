import { useState } from 'preact/hooks'
import { ActionButton } from '../forms.tsx'
import { Status, formatDate, messageOf, useLoad, useSession } from '../ui.tsx'

interface TrustedDevice {
  id: string
  name: string | null
  user_agent: string | null
  ip: string | null
  created_at: string
  last_used_at: string | null
  expires_at: string
  current: boolean
}

/** Devices remembered at a sign-in's second step: the password alone signs in there until they are forgotten. */
export function TrustedDevicesPanel() {
  const { api } = useSession()
  const list = useLoad(() => api.auth<{ devices: TrustedDevice[] }>('GET', '/api/v1/auth/trusted-devices'))
  const [state, setState] = useState<{ error?: string; message?: string }>({})
  const forget = async (path: string, done: string) => {
    setState({})
    try {
      await api.auth('DELETE', path)
      setState({ message: done })
      list.reload()
    } catch (e) {
      setState({ error: messageOf(e) })
    }
  }
  const devices = list.data?.devices ?? []
  return (
    <div class="panel">
      <h2>Remembered devices</h2>
      <p>Where “Remember this device” was ticked at sign-in, the password alone signs you in for 30 days. Changing your password or signing out everywhere forgets them all.</p>
      {devices.length ? (
        <ul class="passkeys">
          {devices.map((device) => (
            <li key={device.id} data-testid="trusted-device-row">
              <strong title={device.user_agent ?? undefined}>{device.name ?? 'Unknown device'}</strong>
              {device.current ? <>{' '}<span class="badge">this device</span></> : null}{' '}
              <span class="small muted">
                remembered {formatDate(device.created_at)}{device.ip ? ` from ${device.ip}` : ''}, last used {device.last_used_at ? formatDate(device.last_used_at) : 'never'}, until {formatDate(device.expires_at)}
              </span>{' '}
              <ActionButton class="secondary small" busyLabel="Forgetting…" onClick={() => forget(`/api/v1/auth/trusted-devices/${device.id}`, `${device.name ?? 'The device'} is forgotten: it asks for the second step again.`)}>
                Forget<span class="visually-hidden"> {device.name ?? 'this device'}</span>
              </ActionButton>
            </li>
          ))}
        </ul>
      ) : list.data ? <p class="muted">No remembered devices.</p> : null}
      {devices.length > 1 ? (
        <ActionButton class="secondary" busyLabel="Forgetting…" onClick={() => forget('/api/v1/auth/trusted-devices', 'Every remembered device is forgotten.')}>Forget all</ActionButton>
      ) : null}
      <Status error={state.error ?? list.error} message={state.message} />
    </div>
  )
}
