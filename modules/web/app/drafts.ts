import type { RefObject } from 'preact'
import { useContext, useEffect, useState } from 'preact/hooks'
import { SessionContext } from './ui.tsx'

/**
 * Form drafts. When a session ends while a form is being filled in (a logout in another tab, an
 * expired cookie), the app sends the person to /login?next=<the page> (main.tsx), and what they
 * typed used to be lost. A form that opts in (`<Form draft="name">`) keeps it in sessionStorage,
 * under the account, the page and the form's name, and gets it back once, when that same account
 * is on that page again. sessionStorage, not localStorage: it stays in this tab and goes with it.
 */

/** Long enough to sign in again, short enough that an old draft does not surprise anyone. */
const MAX_AGE_MS = 60 * 60_000
const PREFIX = 'imghost.draft:'

interface DraftKey {
  account: string
  path: string
  form: string
}

/** A field's name (with its value for a checkbox or radio, as several share a name) → what it holds. */
type Fields = Record<string, string | boolean>
type Editable = HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement

const storageKey = (key: DraftKey) => PREFIX + JSON.stringify([key.account, key.path, key.form])

/** As the router names a page: no trailing slash. */
const pathOf = (pathname: string) => pathname.replace(/\/+$/, '') || '/'

/** Secrets are never written down (passwords, one-time codes), nor what cannot be (files) or was not typed (hidden, read-only). */
const NOT_KEPT = new Set(['password', 'file', 'hidden', 'submit', 'button', 'reset', 'image'])

function editables(form: HTMLFormElement): Editable[] {
  return [...form.elements].filter((element): element is Editable => {
    if (!(element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement || element instanceof HTMLSelectElement)) return false
    if (!element.name || element.disabled || element.autocomplete === 'one-time-code') return false
    return element instanceof HTMLSelectElement || (!element.readOnly && !(element instanceof HTMLInputElement && NOT_KEPT.has(element.type)))
  })
}

const isCheckable = (element: Editable): element is HTMLInputElement =>
  element instanceof HTMLInputElement && (element.type === 'checkbox' || element.type === 'radio')
const fieldName = (element: Editable) => (isCheckable(element) ? `${element.name}=${element.value}` : element.name)

function readFields(form: HTMLFormElement): Fields {
  const fields: Fields = {}
  for (const element of editables(form)) fields[fieldName(element)] = isCheckable(element) ? element.checked : element.value
  return fields
}

/**
 * Puts the values back as if typed: with `input` and `change` events, so a page that keeps a
 * field in its state (a controlled select, a field that shows another) hears them. Returns whether
 * some field was not there.
 */
function writeFields(form: HTMLFormElement, fields: Fields): boolean {
  const found = new Set<string>()
  for (const element of editables(form)) {
    const name = fieldName(element)
    if (!(name in fields)) continue
    found.add(name)
    const value = fields[name]
    if (isCheckable(element) ? element.checked === value : element.value === value) continue
    if (isCheckable(element)) element.checked = value === true
    else element.value = String(value)
    element.dispatchEvent(new Event('input', { bubbles: true }))
    element.dispatchEvent(new Event('change', { bubbles: true }))
  }
  return found.size < Object.keys(fields).length
}

/** Whether the app has just sent the person from `path` to sign in again (main.tsx: `/login?next=…`). */
function sentToLoginFrom(path: string): boolean {
  const next = new URLSearchParams(location.search).get('next')
  return location.pathname === '/login' && next !== null && pathOf(new URL(next, location.origin).pathname) === path
}

// Storage may be full or refused (a privacy mode): a draft is a courtesy, never a reason to fail.
function saveDraft(key: DraftKey, fields: Fields) {
  try {
    sessionStorage.setItem(storageKey(key), JSON.stringify({ saved_at: Date.now(), fields }))
  } catch {}
}

/** The draft for this key, removed as it is read (it is restored once); drafts past their age go too. */
function takeDraft(key: DraftKey): Fields | null {
  try {
    const wanted = storageKey(key)
    let found: Fields | null = null
    for (const name of Object.keys(sessionStorage).filter((name) => name.startsWith(PREFIX))) {
      const draft = JSON.parse(sessionStorage.getItem(name) ?? 'null')
      const fresh = typeof draft?.saved_at === 'number' && Date.now() - draft.saved_at < MAX_AGE_MS
      if (name === wanted && fresh) found = draft.fields
      if (name === wanted || !fresh) sessionStorage.removeItem(name)
    }
    return found
  } catch {
    return null
  }
}

/**
 * Keeps the form's draft `name` for the signed-in account: restores it when the form appears,
 * and saves what was changed if the form goes because the session ended. Returns whether a draft
 * was restored.
 */
export function useFormDraft(form: RefObject<HTMLFormElement | null>, name: string | undefined): boolean {
  const account = useContext(SessionContext)?.user?.id
  const [restored, setRestored] = useState(false)
  useEffect(() => {
    const element = form.current
    if (!name || !account || !element) return
    const key = { account, path: pathOf(location.pathname), form: name }
    // What the page put there (its data); only what the person changed from it is kept.
    const initial = readFields(element)
    const draft = takeDraft(key)
    if (draft) {
      // A field may appear only once another is restored (the lifetime form's date, after
      // "On a date…"): once more after that render.
      if (writeFields(element, draft)) setTimeout(() => writeFields(element, draft))
      setRestored(true)
    }
    return () => {
      const now = readFields(element)
      const changed = Object.fromEntries(Object.entries(now).filter(([field, value]) => initial[field] !== value))
      if (!Object.keys(changed).length) return
      // The render that takes this form away when the session ends also queues the move to the
      // login page (a microtask, main.tsx): look once it has happened.
      setTimeout(() => {
        if (sentToLoginFrom(key.path)) saveDraft(key, changed)
      })
    }
  }, [])
  return restored
}
