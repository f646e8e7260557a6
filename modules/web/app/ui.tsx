import { createContext } from 'preact'
import type { ComponentChildren, InputHTMLAttributes, RefObject } from 'preact'
import { useContext, useEffect, useRef, useState } from 'preact/hooks'
import { type Api, ApiError } from './api.ts'

export interface User {
  id: string
  first_name: string
  last_name: string | null
  username: string
  email: string
  provider: string
  is_admin: boolean
  is_verified: boolean
  is_blocked: boolean
  plan_type: string
  upload_limit_per_day: number
  storage_used: number
  delete_scheduled_for: string | null
  created_at: string
  settings: { allowed_referrers: string[]; default_is_public: boolean; public_profile?: boolean }
}

export interface Session {
  api: Api
  user: User | null
  setUser(user: User | null): void
}

export const SessionContext = createContext<Session>(null as unknown as Session)
export const useSession = () => useContext(SessionContext)

/** `1 view`, `2 views`: a count and its noun, which takes an s unless the count is one. */
export const counted = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`

/**
 * "1.5 MB", "143 KB". `precise`: a decimal below 100 units too, and none when it is 0 ("10.2 GB of
 * 10 GB"), where rounding from 10 up would show an account past its plan's figure as "10 GB of 10 GB".
 */
export const formatBytes = (bytes: number, { precise = false } = {}) => {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  if (precise) return `${value < 100 ? Number(value.toFixed(1)) : Math.round(value)} ${units[unit]}`
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`
}

/**
 * Two sizes that must read differently (a file and the limit it is over): as `formatBytes` shows
 * them, else with up to 3 decimals in the larger one's unit, else in bytes. Rounded alike, "Too
 * large: 20 MB; the limit is 20 MB" would refuse a file for being the size it is allowed to be.
 */
export function formatBytesApart(a: number, b: number): [string, string] {
  const plain: [string, string] = [formatBytes(a), formatBytes(b)]
  if (plain[0] !== plain[1]) return plain
  const larger = formatBytes(Math.max(a, b))
  const unit = larger.slice(larger.indexOf(' ') + 1)
  const power = ['B', 'KB', 'MB', 'GB', 'TB'].indexOf(unit)
  for (let decimals = 1; decimals <= 3 && power > 0; decimals++) {
    const shown = [a, b].map((bytes) => `${Number((bytes / 1024 ** power).toFixed(decimals))} ${unit}`) as [string, string]
    if (shown[0] !== shown[1]) return shown
  }
  return [`${a.toLocaleString('en')} bytes`, `${b.toLocaleString('en')} bytes`]
}

/** `toSecond`: where two times on one screen share their minute (two sessions signed in at once). */
export const formatDate = (value: string | Date | null | undefined, { toSecond = false } = {}) =>
  value ? new Date(value).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: toSecond ? 'medium' : 'short' }) : '–'

/** An ISO 8601 instant, as servers write them into messages ("it resets at 2026-12-05T00:00:00.000Z"). */
const ISO_INSTANT = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})/g

/** A server's sentence with its instants in the person's own locale and time zone, as `formatDate` shows dates elsewhere. */
export const withLocalTimes = (text: string) => text.replace(ISO_INSTANT, (instant) => formatDate(instant))

/**
 * The API's password rule: 8 to 1024 characters (modules/auth/model.ts `Password`, and the same
 * bound in modules/account/model.ts, modules/albums/model.ts and modules/auth/two-factor-model.ts;
 * modules may not import each other, so the figures are copied here).
 */
export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = 1024

/**
 * What a password field's refusal means, in one sentence, as the value typed broke the rule: too
 * long, too short, or only spaces (src/users/public.ts `NewPassword`: "not only spaces"), which
 * counted as long enough here and read as "at least 8 characters" of a value that had them.
 */
export function passwordLengthRule(label: string, value = '') {
  if (value.length > PASSWORD_MAX_LENGTH) return `${label}: at most ${PASSWORD_MAX_LENGTH} characters.`
  if (value.length >= PASSWORD_MIN_LENGTH && !value.trim()) return `${label}: must not be only spaces.`
  return `${label}: at least ${PASSWORD_MIN_LENGTH} characters.`
}

/**
 * A code from an authenticator app as typed or pasted (" 123 456 ", "123456\n"): its six digits,
 * or null. The fields take any text and check it here: an input `pattern` refused a paste with
 * spaces around it in the browser's own words ("Please match the requested format").
 */
export function authenticatorCode(typed: string): string | null {
  const digits = typed.replace(/\s+/g, '')
  return /^\d{6}$/.test(digits) ? digits : null
}

export const AUTHENTICATOR_CODE_RULE = 'Enter the 6 digits your authenticator app shows.'

/**
 * The API's `invalid_password` ("Wrong password") at a form that asks for the account's password
 * to confirm a change, named as the form labels the field, as the account page names its own.
 */
export const wrongPassword = (label: string) => `${label}: that is not your password.`

/** Characters the API refuses in a name (src/users/public.ts): controls (C0, DEL, C1) and bidirectional overrides, invisible. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

/** The API's name rules (src/users/public.ts `FirstName`, `LastName`), as the value typed broke them. */
export function nameRule(label: string, value = '', required = false): string {
  if (CONTROL_CHARACTER.test(value)) return `${label}: remove the invisible control character (pasted text can carry one, such as a right-to-left override).`
  if (required && !value.trim()) return `${label}: must not be blank.`
  return `${label}: ${required ? '1 to' : 'at most'} 100 characters.`
}

/**
 * The API's username rule (modules/auth/model.ts and modules/account/model.ts `Username`), for the
 * sign-up and account forms alike: the field's own check, its hint, and the refusal in its words.
 */
export const USERNAME_PATTERN = '[A-Za-z0-9_.\\-]+'
export const USERNAME_HINT = '3 to 32 letters, digits, _ . -'
export const USERNAME_RULE = 'Username: 3 to 32 letters, digits, _ . or -.'

export const firstNameRule = (value = '') => nameRule('First name', value, true)

/**
 * How a form words what the API refused. `fields`: an API field path (`rate_limit_per_hour`, or
 * a prefix such as `settings.allowed_referrers`, given the rest of the path: the array index)
 * → a sentence naming the field as the form labels it, and the rule it must follow.
 * `codes`: an error code → a sentence.
 */
export interface FormWords {
  fields?: Record<string, (rest: string[]) => string>
  codes?: Record<string, string | ((message: string, error: ApiError) => string)>
}

/**
 * For `FormWords.codes`: the server's sentence about API field `field` ("url must start with
 * http://…"), with the field named as the form labels it ("Endpoint URL: must start with http://…").
 */
export const labelled = (label: string, field: string) => (message: string) => {
  const rule = message.startsWith(`${field} `) ? message.slice(field.length + 1) : message
  return `${label}: ${withLocalTimes(rule)}${/[.!?]$/.test(rule) ? '' : '.'}`
}

/** The sentences for the fields the API named, as the form labels them; null if it named one the form does not know. */
function fieldMessages(error: ApiError, fields: NonNullable<FormWords['fields']>): string | null {
  const sentences: string[] = []
  for (const problem of error.details) {
    const path = problem.field.split('.')
    // The longest known prefix: `settings.allowed_referrers.3` → `settings.allowed_referrers` with rest ['3'].
    let at = path.length
    while (at > 0 && !fields[path.slice(0, at).join('.')]) at--
    const describe = fields[path.slice(0, at).join('.')]
    if (!describe) return null
    const sentence = describe(path.slice(at))
    if (!sentences.includes(sentence)) sentences.push(sentence)
  }
  return sentences.length ? sentences.join(' ') : null
}

/**
 * What a form shows for a failure. Only the servers' answers (ApiError) are worded for people; a
 * browser's own exception ("Failed to execute 'replaceState' on 'History'…") is not, so it goes to
 * the console and the form says something plain.
 */
export const messageOf = (error: unknown, words: FormWords = {}) => {
  if (error instanceof ApiError) {
    const byCode = words.codes?.[error.code]
    if (byCode) return typeof byCode === 'string' ? byCode : byCode(error.message, error)
    if (error.details.length > 0 && words.fields) return fieldMessages(error, words.fields) ?? withLocalTimes(error.message)
    return withLocalTimes(error.message)
  }
  console.error(error)
  return 'Something went wrong in this page. Try again, or reload the page.'
}

/**
 * The page's heading: focused on arrival so a screen reader announces the new page, unless the
 * page puts the focus where the person must type at once (`focus={false}`; its label is read then).
 * The tab's title follows its text, also when it changes in place (an album renamed). A page whose
 * heading announces a new result (the verification page's "Email verified") keys it by its text,
 * so it is a new heading and takes the focus. `headingRef`: for a page that sends the focus back
 * to it. `title`: the tab's title where the heading alone would not tell its tabs apart (the admin
 * sections, "Users · Admin").
 */
export function PageTitle({ children, focus = true, headingRef, title }: { children: ComponentChildren; focus?: boolean; headingRef?: RefObject<HTMLHeadingElement | null>; title?: string }) {
  const ownRef = useRef<HTMLHeadingElement>(null)
  const ref = headingRef ?? ownRef
  useEffect(() => {
    if (!focus) return
    ref.current?.focus()
    // Back or Forward between two states of one page (another page of a list, an earlier search)
    // keeps this heading, so the focus above does not run again, and the focused control may be
    // re-rendered away once the data comes: the browser's own history move (a trusted popstate;
    // navigate()'s is not) takes the focus here at once, as opening a page does.
    const onHistoryMove = (event: PopStateEvent) => event.isTrusted && ref.current?.focus()
    addEventListener('popstate', onHistoryMove)
    return () => removeEventListener('popstate', onHistoryMove)
  }, [])
  useEffect(() => {
    const shown = `${title ?? ref.current?.textContent ?? ''} · imghost`
    if (document.title !== shown) document.title = shown
  })
  return (
    <h1 tabIndex={-1} ref={ref}>
      {children}
    </h1>
  )
}

/**
 * A message region that screen readers read out when it changes. With `focusRef`, it can take the
 * focus: where an action took its own button away, the focus goes to what the action did.
 *
 * The error's alert stands beside the polite region, not inside it: nested, a refusal was one
 * change to both, and some screen readers read it twice.
 *
 * `retry`: the page's data (`useLoad`) this line tells the failure of: while it has failed, the
 * line offers **Try again** (`retryWhat`: what it loads, in its name, where a page has several
 * lists that can fail apart: "Try again to load your passkeys"). Given, the line must stay on the
 * page once the data comes (no `{load.error ? <Status …/> : null}`), so that the button's focus
 * can go to the page's heading then.
 */
export function Status({ error, message, focusRef, errorId, retry, retryWhat }: {
  error?: ComponentChildren
  message?: string | null
  focusRef?: RefObject<HTMLDivElement | null>
  errorId?: string
  retry?: Retryable
  retryWhat?: string
}) {
  return (
    <div class="status" ref={focusRef} tabIndex={focusRef ? -1 : undefined}>
      {error ? <p class="error" role="alert" id={errorId}>{error}</p> : null}
      <div role="status">{message ? <p class="ok">{message}</p> : null}</div>
      {retry ? <TryAgain load={retry} what={retryWhat} /> : null}
    </div>
  )
}

/** Data a page loads, as `useLoad` gives it, that Try again can ask for again. */
export interface Retryable {
  data?: unknown
  error?: string
  /** False where asking again would get the same refusal (a 404, an address the page did not give out). */
  retryable?: boolean
  loading: boolean
  reload(): void
}

/**
 * Asks a failed load again, without reloading the page. Shown while `load` has failed in a way that
 * may pass and has nothing to show; mounted with the page's data, so that once the data comes and
 * the button goes, the focus it had goes to the page's heading, not to <body>.
 */
function TryAgain({ load, what }: { load: Retryable; what?: string }) {
  const refocus = useRefocus(load.data)
  if (!load.error || load.data !== undefined || load.retryable === false) return null
  return (
    <p>
      {/* aria-disabled, not disabled, while it asks: a disabled button drops the focus. */}
      <button
        type="button"
        class="secondary small"
        aria-disabled={load.loading || undefined}
        onClick={() => {
          if (load.loading) return
          refocus(() => document.querySelector<HTMLElement>('main h1'))
          load.reload()
        }}
      >
        {load.loading ? 'Trying again…' : 'Try again'}
        {what ? <span class="visually-hidden"> to load {what}</span> : null}
      </button>
    </p>
  )
}

/** Marks an image that moderation hid after reports: nobody is shown it, whatever its own setting. */
export const ModerationBadge = () => <span class="badge private" data-testid="moderation-hidden">Hidden by moderation</span>

/** `errorId`: the element saying what is wrong with the field (a `Status` with that `errorId`), which marks it invalid and describes it. */
export function Field(props: InputHTMLAttributes & { label: string; hint?: string; errorId?: string }) {
  const { label, hint, errorId, id, ...input } = props
  const fieldId = id ?? `f-${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`
  const describedBy = [errorId, hint ? `${fieldId}-hint` : undefined].filter(Boolean).join(' ')
  return (
    <div class="field">
      <label for={fieldId}>{label}</label>
      <input id={fieldId} {...input} aria-invalid={errorId ? true : undefined} aria-describedby={describedBy || undefined} />
      {hint ? <small id={`${fieldId}-hint`}>{hint}</small> : null}
    </div>
  )
}

/**
 * Copies `text`. Its name is what it shows ("Copy", then "Copied"), then `what` (hidden: "Copy
 * Link", "Copy link of invite ab12"), so the name holds the visible label, as speech input needs;
 * a live region says that it copied, which a change of label alone does not.
 */
export function CopyButton({ text, label, what, small }: { text: string; label?: string; what?: string; small?: boolean }) {
  const [done, setDone] = useState(false)
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text)
    } catch {
      // Clipboard API refused (http on a non-local host): select-and-copy fallback.
      const area = document.createElement('textarea')
      area.value = text
      document.body.append(area)
      area.select()
      document.execCommand('copy')
      area.remove()
    }
    setDone(true)
    setTimeout(() => setDone(false), 1500)
  }
  return (
    <>
      <button type="button" class={small ? 'secondary small' : 'secondary'} onClick={copy}>
        {done ? 'Copied' : (label ?? 'Copy')}
        {what ? <span class="visually-hidden"> {what}</span> : null}
      </button>
      <span class="visually-hidden" role="status">{done ? 'Copied.' : ''}</span>
    </>
  )
}

export function Meter({ label, used, limit, format = String }: { label: string; used: number; limit: number; format?: (n: number) => string }) {
  const ratio = limit > 0 ? Math.min(1, used / limit) : 0
  return (
    <div class="meter">
      <div class="meter-label">
        <span>{label}</span>
        <span>
          {format(used)} of {format(limit)}
        </span>
      </div>
      <progress max={limit || 1} value={Math.min(used, limit)} aria-label={label} class={ratio > 0.9 ? 'high' : ''} />
    </div>
  )
}

/**
 * Whether asking again may get another answer: no answer at all, a timeout, a rate limit, a
 * server's or proxy's error, or the page's own exception. Not the server's refusal (a 404, a 403,
 * a `?cursors=` it did not give out), which would come again.
 */
const mayPass = (error: unknown) => !(error instanceof ApiError) || error.status === 0 || error.status === 408 || error.status === 429 || error.status >= 500

/** A load's failure as a page keeps it: the sentence, the API's code (for a page that words one failure its own way), and whether Try again may help. */
export const failedLoad = (error: unknown) => ({ error: messageOf(error), ...(error instanceof ApiError ? { errorCode: error.code } : {}), retryable: mayPass(error) })

/** Runs `load` on mount and whenever `deps` change; gives data, error and a reload. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []) {
  const [state, setState] = useState<{ data?: T; error?: string; errorCode?: string; retryable?: boolean; loading: boolean }>({ loading: true })
  const [tick, setTick] = useState(0)
  useEffect(() => {
    let live = true
    setState((s) => ({ ...s, loading: true }))
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ ...failedLoad(error), loading: false }),
    )
    return () => {
      live = false
    }
  }, [...deps, tick])
  return { ...state, reload: () => setTick((n) => n + 1) }
}

/**
 * Keeps keyboard focus in a list whose actions can take their own button away (a row removed,
 * Block gone once promoted). Call the returned function with the row's index once the action
 * succeeded; when `shown` (the reloaded data) comes, if the focus fell to <body> with its button,
 * it goes to the first action of the row now at that index (the next one), else of the nearest
 * one before it, else to `empty` (the list's empty message).
 */
export function useRowFocus(rows: RefObject<HTMLElement | null>, empty: RefObject<HTMLElement | null>, shown: unknown) {
  const pending = useRef<number | null>(null)
  useEffect(() => {
    const index = pending.current
    if (index === null || shown === undefined) return
    pending.current = null
    if (document.activeElement && document.activeElement !== document.body) return
    const all = [...(rows.current?.children ?? [])]
    const nearest = [...all.slice(index), ...all.slice(0, index).reverse()]
    const action = nearest.map((row) => row.querySelector<HTMLElement>('.actions button:not(:disabled)')).find((button) => button)
    ;(action ?? empty.current)?.focus()
  }, [shown])
  return (index: number) => {
    pending.current = index
  }
}

/**
 * Whether the keyboard focus is gone from where the person was: on <body>, or still on a button
 * just disabled (Chromium moves the focus off it only at its next rendering step).
 */
const focusLost = () => {
  const active = document.activeElement
  return !active || active === document.body || !active.isConnected || (active as HTMLButtonElement).disabled === true
}

/**
 * Keeps keyboard focus when an action takes its own button away (a form re-created from the saved
 * values, a button now disabled, a panel gone). Call the returned function with where the focus
 * should go once the action succeeded; when `shown` (the state that shows its answer) next
 * changes, if the focus fell to <body>, it goes there.
 *
 * With `{ fromHere: true }`, it also goes there when the focus is still where it was at the call:
 * a form's submit button, after an answer the person must act on next (a field at fault, a key
 * shown only once). Moved elsewhere by the person meanwhile, it stays where they put it.
 */
export function useRefocus(shown: unknown) {
  const pending = useRef<{ target: () => HTMLElement | null | undefined; from: Element | null; before: unknown } | null>(null)
  const rendered = useRef(shown)
  rendered.current = shown
  useEffect(() => {
    const next = pending.current
    // Effects run after paint: one for a render from before the call (an upload's progress, say) can
    // still be due when the action is taken, and must not use up the wait for the action's own answer.
    if (!next || shown === undefined || shown === next.before) return
    pending.current = null
    if (!focusLost() && !(next.from && document.activeElement === next.from)) return
    next.target()?.focus()
  }, [shown])
  return (target: () => HTMLElement | null | undefined, options: { fromHere?: boolean } = {}) => {
    pending.current = { target, from: options.fromHere ? document.activeElement : null, before: rendered.current }
  }
}

/**
 * A page's one status line: a message, or an error tied to the field of a form it is about. Refused
 * with a `field` (a name `selectorOf` turns into a selector in that form), the field takes the focus
 * off the button pressed, and `errorOf(field)` gives it the `errorId` that marks it invalid and
 * described by the error (the page's `Status` carries that `errorId`). `refocus` waits on the same
 * status, for an answer that is not a refusal (a key or a secret shown once).
 */
export function useFieldStatus(errorId: string, selectorOf: (field: string) => string = (field) => `[name="${field}"]`) {
  const [status, setStatus] = useState<{ error?: string; message?: string; field?: string }>({})
  const refocus = useRefocus(status)
  const refuse = (form: HTMLFormElement, text: string, field?: string | null) => {
    if (field) refocus(() => form.querySelector<HTMLElement>(selectorOf(field)), { fromHere: true })
    setStatus({ error: text, ...(field ? { field } : {}) })
  }
  return { status, setStatus, refocus, refuse, errorOf: (field: string) => (status.error && status.field === field ? errorId : undefined) }
}

/**
 * The field of `form` an API refusal is about (by its `name`): the one its code names
 * (`fieldOfCode`), else the one its `details` name first, where the form has a field of that name
 * (a password of spaces alone, 422 `password`; the referrer list's `settings.allowed_referrers.3`).
 */
function fieldOfRefusal(form: HTMLFormElement, error: unknown, fieldOfCode: Record<string, string>): string | null {
  if (!(error instanceof ApiError)) return null
  const has = (name: string | undefined) => !!name && !!form.querySelector(`[name="${name}"]`)
  if (Object.hasOwn(fieldOfCode, error.code)) return has(fieldOfCode[error.code]) ? fieldOfCode[error.code]! : null
  // The deepest part of the path the form has a field for: `settings.allowed_referrers.3` → `allowed_referrers`.
  return error.details[0]?.field.split('.').reverse().find(has) ?? null
}

/**
 * `useFieldStatus` for a form whose refusals say nothing else: the field is the one its API error
 * code names (`fieldOfCode`) or its details name. `refuseAt`: a refusal the page makes itself,
 * before asking the API, about the field named `field`.
 */
export function useFieldRefusal(errorId: string, fieldOfCode: Record<string, string> = {}) {
  const { status, setStatus, refuse, errorOf } = useFieldStatus(errorId)
  return {
    error: status.error ?? null,
    refuse: (form: HTMLFormElement, error: unknown, text: string) => refuse(form, text, fieldOfRefusal(form, error, fieldOfCode)),
    refuseAt: (form: HTMLFormElement, text: string, field: string) => refuse(form, text, field),
    clear: () => setStatus({}),
    errorOf,
  }
}
