import { createContext } from 'preact'
import type { ButtonHTMLAttributes, ComponentChildren, FormHTMLAttributes } from 'preact'
import { useContext, useEffect, useRef, useState } from 'preact/hooks'
import { useFormDraft } from './drafts.ts'

/**
 * One request at a time. A form or button that sends something must not send it again while the
 * first is on its way: a double click used to make two API keys or two albums, and send every
 * DELETE of a selection twice.
 *
 * While busy, buttons are `aria-disabled` rather than `disabled`: a disabled button loses the
 * keyboard focus (it goes back to the page), and a screen reader reads "unavailable" either way.
 * The guard below ignores their presses, and Enter in a field, until the request is over.
 */
export function useOneAtATime<A extends unknown[]>(action: (...args: A) => unknown) {
  // A ref, not the state: the second click of a double click can come before the page re-renders.
  const running = useRef(false)
  const mounted = useRef(true)
  const [busy, setBusy] = useState(false)
  useEffect(() => () => void (mounted.current = false), [])
  const run = async (...args: A) => {
    if (running.current) return
    running.current = true
    setBusy(true)
    try {
      // Called at once, in the same event: handlers may still read `event.currentTarget`.
      await action(...args)
    } finally {
      running.current = false
      if (mounted.current) setBusy(false)
    }
  }
  return { busy, run }
}

const FormBusy = createContext(false)

type FormProps = Omit<FormHTMLAttributes<HTMLFormElement>, 'onSubmit'> & {
  /** Runs on submit (the default is prevented); further submissions are ignored until its promise settles. */
  onSubmit: (event: SubmitEvent) => unknown
  /** Opts in to drafts (drafts.ts), under this name, unique on the page: what was typed survives signing in again. */
  draft?: string
  children: ComponentChildren
}

/** A `<form>` that sends once at a time; its `SubmitButton`s show when it is busy. */
export function Form({ onSubmit, draft, children, ...props }: FormProps) {
  const { busy, run } = useOneAtATime(onSubmit)
  const form = useRef<HTMLFormElement>(null)
  const restored = useFormDraft(form, draft)
  return (
    <form
      {...props}
      ref={form}
      aria-busy={busy || undefined}
      onSubmit={(event) => {
        event.preventDefault()
        void run(event)
      }}
    >
      {restored ? <p role="status" class="muted small">Restored what you typed before signing in again.</p> : null}
      <FormBusy.Provider value={busy}>{children}</FormBusy.Provider>
    </form>
  )
}

type ButtonProps = Omit<ButtonHTMLAttributes<HTMLButtonElement>, 'onClick' | 'type'> & {
  /** Shown instead of the label while the request runs, e.g. "Creating…". */
  busyLabel?: string
  children: ComponentChildren
}

/** The submit button of a `Form`; `busy` also marks it busy for work the form does not run itself. */
export function SubmitButton({ busyLabel, busy: alsoBusy, children, ...props }: ButtonProps & { busy?: boolean }) {
  const busy = useContext(FormBusy) || !!alsoBusy
  return (
    <button {...props} type="submit" aria-disabled={busy || undefined}>
      {busy && busyLabel ? busyLabel : children}
    </button>
  )
}

/** A button that starts a request (delete, revoke, send): pressed again while it runs, it does nothing. */
export function ActionButton({ onClick, busyLabel, children, ...props }: ButtonProps & { onClick: () => unknown }) {
  const { busy, run } = useOneAtATime(onClick)
  return (
    <button {...props} type="button" aria-disabled={busy || undefined} onClick={() => void run()}>
      {busy && busyLabel ? busyLabel : children}
    </button>
  )
}
