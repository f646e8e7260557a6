import type { ComponentChildren } from 'preact'
import { useRef, useState } from 'preact/hooks'
import { ActionButton } from '../forms.tsx'
import { Status, formatDate, messageOf, useLoad, useRowFocus, useSession } from '../ui.tsx'

/** A session or a remembered device, as the API lists them. */
interface Listed {
  id: string
  name: string | null
  user_agent: string | null
  ip: string | null
  created_at: string
  expires_at: string
  current: boolean
}

interface Session extends Listed {
  last_used_at: string
  last_ip: string | null
}

interface TrustedDevice extends Listed {
  last_used_at: string | null
}

/**
 * A list from `path`, and DELETE calls that change it, each followed by a reload and a message
 * (or the error in words). A button that takes its row away hands the focus to the next row's
 * action, or to `empty` (useRowFocus). `status`: the panel's `Status`, which offers Try again while
 * the list has failed to load.
 */
function useChangingList<T>(path: string, items: (answer: any) => T[]) {
  const { api } = useSession()
  const list = useLoad(() => api.auth('GET', path))
  const [state, setState] = useState<{ error?: string; message?: string }>({})
  const rows = useRef<HTMLUListElement>(null)
  const empty = useRef<HTMLParagraphElement>(null)
  const refocus = useRowFocus(rows, empty, list.data)
  const change = async (target: string, done: string, row = 0) => {
    setState({})
    try {
      await api.auth('DELETE', target)
      setState({ message: done })
      refocus(row)
      list.reload()
    } catch (e) {
      setState({ error: messageOf(e) })
    }
  }
  return { items: list.data ? items(list.data) : [], loaded: list.data !== undefined, status: { error: state.error ?? list.error, message: state.message, retry: list }, change, rows, empty }
}

const from = (item: Listed) => (item.ip ? ` from ${item.ip}` : '')

/** When a row's session or device began (signed in, remembered), as its row shows it. */
const beganAt = (item: Listed, toSecond: boolean) => formatDate(item.created_at, { toSecond })

/** When and where a session signed in; for another one, also when it was last active, and from where if elsewhere. */
function sessionDetail(session: Session, toSecond: boolean) {
  const signedIn = `signed in ${beganAt(session, toSecond)}${from(session)}`
  if (session.current) return signedIn
  const elsewhere = session.last_ip && session.last_ip !== session.ip ? ` from ${session.last_ip}` : ''
  return `${signedIn}, last active ${formatDate(session.last_used_at)}${elsewhere}`
}

/** What a row calls a session or device with no name: its buttons say the same, as they end that one, not this one. */
const UNNAMED = 'Unknown device'

interface NameApart {
  /** What the row's button and its confirmation call it ("Chrome on Linux, signed in 3 Mar 2026, 10:04"). */
  label: string
  /** Whether its name alone tells it apart (the label is then that name). */
  alone: boolean
  /** Whether its row shows when it began to the second, as its label does. */
  toSecond: boolean
}

/**
 * What each row's button and confirmation call it. Two windows of one browser on one system have
 * one name ("Chrome on Linux"), and "Sign out Chrome on Linux" twice would not say which: a name
 * shared is followed by when that one `began`, as its row shows it; to the second where the minute
 * is shared too, and by its place among its twins where even the second is.
 */
function namesApart(items: Listed[], began: string): Map<string, NameApart> {
  const byName = (item: Listed) => item.name ?? UNNAMED
  const byMinute = (item: Listed) => `${byName(item)}, ${began} ${beganAt(item, false)}`
  const bySecond = (item: Listed) => `${byName(item)}, ${began} ${beganAt(item, true)}`
  const levels = [byName, byMinute, bySecond]
  const apart = new Map<string, NameApart>()
  for (const item of items) {
    const level = levels.findIndex((labelOf) => items.filter((other) => labelOf(other) === labelOf(item)).length === 1)
    if (level >= 0) {
      apart.set(item.id, { label: levels[level]!(item), alone: level === 0, toSecond: level === 2 })
      continue
    }
    const twins = items.filter((other) => bySecond(other) === bySecond(item))
    apart.set(item.id, { label: `${bySecond(item)} (${twins.indexOf(item) + 1} of ${twins.length})`, alone: false, toSecond: true })
  }
  return apart
}

function ListedRow({ item, currentLabel, detail, children }: { item: Listed; currentLabel: string; detail: string; children?: ComponentChildren }) {
  return (
    <li data-testid="listed-row">
      <strong title={item.user_agent ?? undefined}>{item.name ?? UNNAMED}</strong>
      {item.current ? <>{' '}<span class="badge">{currentLabel}</span></> : null}{' '}
      <span class="small muted">{detail}</span>{' '}
      <span class="actions">{children}</span>
    </li>
  )
}

/** Where the account is signed in; any other session can be signed out from here. */
export function SessionsPanel() {
  const { items: sessions, status, change, rows, empty } = useChangingList<Session>('/api/v1/auth/sessions', (answer) => answer.sessions)
  const others = sessions.filter((session) => !session.current).length
  const names = namesApart(sessions, 'signed in')
  return (
    <div class="panel">
      <h2>Where you are signed in</h2>
      <p tabIndex={-1} ref={empty}>Every browser and script signed in to this account. Signing one out ends it at once.</p>
      <ul class="passkeys" data-testid="sessions" ref={rows}>
        {sessions.map((session, index) => {
          const { label, alone, toSecond } = names.get(session.id)!
          return (
            <ListedRow key={session.id} item={session} currentLabel="this session" detail={sessionDetail(session, toSecond)}>
              {session.current ? null : (
                <ActionButton class="secondary small" busyLabel="Signing out…" onClick={() => change(`/api/v1/auth/sessions/${session.id}`, `${alone ? (session.name ?? 'That session') : label} is signed out.`, index)}>
                  Sign out<span class="visually-hidden"> {label}</span>
                </ActionButton>
              )}
            </ListedRow>
          )
        })}
      </ul>
      {others > 1 ? (
        <ActionButton class="secondary" busyLabel="Signing out…" onClick={() => change('/api/v1/auth/sessions', 'Every other session is signed out.')}>Sign out all other sessions</ActionButton>
      ) : null}
      <Status {...status} retryWhat="where you are signed in" />
    </div>
  )
}

/** Devices remembered at a sign-in's second step: the password alone signs in there until they are forgotten. */
export function TrustedDevicesPanel() {
  const { items: devices, loaded, status, change, rows, empty } = useChangingList<TrustedDevice>('/api/v1/auth/trusted-devices', (answer) => answer.devices)
  const names = namesApart(devices, 'remembered')
  return (
    <div class="panel">
      <h2>Remembered devices</h2>
      <p>Where “Remember this device” was ticked at sign-in, the password alone signs you in for 30 days. Changing your password or signing out everywhere forgets them all.</p>
      {devices.length ? (
        <ul class="passkeys" data-testid="trusted-devices" ref={rows}>
          {devices.map((device, index) => {
            const { label, alone, toSecond } = names.get(device.id)!
            return (
              <ListedRow
                key={device.id}
                item={device}
                currentLabel="this device"
                detail={`remembered ${beganAt(device, toSecond)}${from(device)}, last used ${device.last_used_at ? formatDate(device.last_used_at) : 'never'}, until ${formatDate(device.expires_at)}`}
              >
                <ActionButton class="secondary small" busyLabel="Forgetting…" onClick={() => change(`/api/v1/auth/trusted-devices/${device.id}`, `${alone ? (device.name ?? 'The device') : label} is forgotten: it asks for the second step again.`, index)}>
                  Forget<span class="visually-hidden"> {label}</span>
                </ActionButton>
              </ListedRow>
            )
          })}
        </ul>
      ) : loaded ? <p class="muted" tabIndex={-1} ref={empty}>No remembered devices.</p> : null}
      {devices.length > 1 ? (
        <ActionButton class="secondary" busyLabel="Forgetting…" onClick={() => change('/api/v1/auth/trusted-devices', 'Every remembered device is forgotten.')}>Forget all</ActionButton>
      ) : null}
      <Status {...status} retryWhat="your remembered devices" />
    </div>
  )
}
