import { createContext } from 'preact'
import { useContext, useEffect, useState } from 'preact/hooks'
import { type Api, ApiError, isUnavailable, uploadFile } from './api.ts'

/**
 * The Upload page's queue, owned by the app's root (main.tsx) rather than by the page: uploads go
 * on while the person looks at the gallery or anything else in the app, and the page shows them
 * again, with their progress and results, on return. Created once per App, never at module level.
 */

export type UploadStatus = 'waiting' | 'uploading' | 'processing' | 'done' | 'error' | 'not-sent' | 'cancelled'

export interface UploadItem {
  key: number
  file: File
  loaded: number
  /** `not-sent`: held back once the daily upload limit was met (the page says so once, above the list). */
  status: UploadStatus
  /** As the checkbox stood when the upload started: ticking it later changes only new uploads. */
  isPublic?: boolean
  /** Why it failed (an ApiError, as a rule); the page words it. */
  failure?: unknown
  /** A 429 or 503's Retry-After: when trying again may work. */
  retryAt?: Date
  /** `metadata.size` is the stored original's size: the file less the metadata removed from it. */
  image?: { id: string; url: string; thumbnail: string; metadata: { size: number }; expires_at?: string | null; max_views?: number | null; views_left?: number | null }
  /** Done, but nothing new was stored: the same bytes with the same settings were uploaded before (a 200, not a 201). */
  existing?: boolean
}

/** The page's choices for the files it sends: they stay as they were left when the person comes back. */
export interface UploadChoices {
  isPublic: boolean
  /** An `expires_in` the server takes, or '' for never. */
  expiresIn: string
  /** The view limit as typed; `value` once valid, `error` when it is none the server would take. */
  maxViews: { typed: string; value?: string; error?: string }
}

export interface UploadQueueState {
  /** Newest first. */
  items: UploadItem[]
  /** Each finished upload, in the order they finished: the page reads them out, never the progress. */
  uploaded: { key: number; name: string; existing: boolean }[]
  /** Set by the first refusal for the daily limit: files waiting then, or added before it resets, are not sent. */
  quotaReached: { resetsAt: Date | null } | null
  /** Null until the Upload page first shows (it knows the account's default visibility): nothing starts before. */
  choices: UploadChoices | null
  /**
   * The keys of the files sent since the queue was last idle: what the header's indicator counts on
   * the other pages. Emptied by `markSeen` once the Upload page has shown them all finished.
   */
  batch: number[]
}

export interface UploadQueue {
  readonly state: UploadQueueState
  subscribe(listener: () => void): () => void
  add(files: Iterable<File>): void
  setChoices(choices: UploadChoices): void
  /** Stops a file still waiting or being sent (the request is aborted). */
  cancel(key: number): void
  /** Sends a failed or cancelled file again, without picking it again. */
  retry(key: number): void
  /** Aborts everything and forgets it: the session ended. */
  reset(): void
  /** The Upload page shows every file: a batch that is over is no news any more (the indicator goes). */
  markSeen(): void
}

/** Two at a time: the server processes two images at once by default; more would only queue there. */
const PARALLEL = 2

/** How the list names a file: a pasted screenshot may come without a name. */
export const nameOf = (item: Pick<UploadItem, 'file'>) => item.file.name || 'pasted image'

/** The form fields POST /upload takes for these choices. */
export function lifetimeFields(choices: UploadChoices): Record<string, string> {
  const fields: Record<string, string> = {}
  if (choices.expiresIn) fields.expires_in = choices.expiresIn
  if (choices.maxViews.value) fields.max_views = choices.maxViews.value
  return fields
}

/** A Retry-After in seconds (RFC 9110 §10.2.3) as the instant it names; null if none is given. */
export function retryAfterOf(error: ApiError): Date | null {
  const seconds = Number(error.headers?.get('retry-after'))
  return Number.isFinite(seconds) && seconds > 0 ? new Date(Date.now() + seconds * 1000) : null
}

/** What a failed item keeps of a Retry-After: the instant it names. */
const retryOf = (error: unknown): Pick<UploadItem, 'retryAt'> => ({ retryAt: (error instanceof ApiError && retryAfterOf(error)) || undefined })

/**
 * Failures that sending the same file again may cure: the server out of reach, a proxy's or the
 * server's "not now" (502, 503, 504), a rate limit (429, other than the daily upload limit, which
 * holds the whole queue). The file is still at hand: nothing to pick again.
 */
export function mayRetry(item: UploadItem): boolean {
  if (item.status === 'cancelled') return true
  if (item.status !== 'error' || !(item.failure instanceof ApiError)) return false
  const { status, code } = item.failure
  return code === 'network_error' || status === 429 || isUnavailable(status)
}

export const isRunning = (item: UploadItem) => item.status === 'waiting' || item.status === 'uploading' || item.status === 'processing'

export function createUploadQueue(api: Api): UploadQueue {
  let state: UploadQueueState = { items: [], uploaded: [], quotaReached: null, choices: null, batch: [] }
  const listeners = new Set<() => void>()
  const inFlight = new Map<number, AbortController>()
  let nextKey = 1

  // Leaving the app (reload, another site, closing the tab) would end the uploads still running.
  const warnBeforeLeaving = (event: BeforeUnloadEvent) => {
    event.preventDefault()
    event.returnValue = ''
  }
  let warning = false

  const set = (next: Partial<UploadQueueState>) => {
    state = { ...state, ...next }
    const runningKeys = state.items.filter(isRunning).map((item) => item.key)
    const running = runningKeys.length > 0
    if (running) {
      // Started from idle, a new batch; a file added or retried while others run joins theirs.
      const batch = warning ? state.batch : []
      const joining = runningKeys.filter((key) => !batch.includes(key))
      if (joining.length || !warning) state = { ...state, batch: [...batch, ...joining] }
    }
    if (running !== warning) {
      warning = running
      if (running) addEventListener('beforeunload', warnBeforeLeaving)
      else removeEventListener('beforeunload', warnBeforeLeaving)
    }
    for (const listener of listeners) listener()
    pump()
  }
  /** The items with one of them changed. */
  const withItem = (key: number, change: Partial<UploadItem>) => state.items.map((item) => (item.key === key ? { ...item, ...change } : item))
  const update = (key: number, change: Partial<UploadItem>) => set({ items: withItem(key, change) })
  const itemOf = (key: number) => state.items.find((item) => item.key === key)

  function start(item: UploadItem, choices: UploadChoices) {
    const controller = new AbortController()
    inFlight.set(item.key, controller)
    update(item.key, { status: 'uploading', isPublic: choices.isPublic, loaded: 0, failure: undefined, retryAt: undefined })
    // An answer to an upload since cancelled, retried or forgotten (reset) changes nothing.
    const current = () => inFlight.get(item.key) === controller
    uploadFile(api, item.file, {
      isPublic: choices.isPublic,
      fields: lifetimeFields(choices),
      signal: controller.signal,
      onProgress: ({ loaded, total }) => current() && update(item.key, { loaded, status: loaded >= total ? 'processing' : 'uploading' }),
    }).then(
      (answer) => {
        if (!current()) return
        inFlight.delete(item.key)
        set({
          items: withItem(item.key, { status: 'done', loaded: item.file.size, image: answer.image, existing: !answer.created }),
          uploaded: [...state.uploaded, { key: item.key, name: nameOf(item), existing: !answer.created }],
        })
      },
      (error) => {
        if (!current()) return
        inFlight.delete(item.key)
        if (error instanceof ApiError && error.code === 'upload_limit_reached') {
          // At once, so the next waiting file is held, not started.
          set({ items: withItem(item.key, { status: 'not-sent' }), quotaReached: { resetsAt: retryAfterOf(error) } })
        } else {
          update(item.key, { status: 'error', failure: error, ...retryOf(error) })
        }
      },
    )
  }

  /** Whenever fewer than PARALLEL are in flight, starts the first waiting file (the lowest key). */
  function pump() {
    const { choices, quotaReached } = state
    // A view limit the server would refuse holds every file until it is fixed: nothing is sent.
    if (!choices || choices.maxViews.error) return
    if (quotaReached && (quotaReached.resetsAt === null || Date.now() < quotaReached.resetsAt.getTime())) {
      if (state.items.some((item) => item.status === 'waiting')) set({ items: state.items.map((item) => (item.status === 'waiting' ? { ...item, status: 'not-sent' } : item)) })
      return
    }
    const active = state.items.filter((item) => item.status === 'uploading' || item.status === 'processing').length
    // The list shows the newest batch on top, each batch in the order picked: files are sent batch
    // by batch, oldest first, and each batch from its top down (keys rise in that order), so with
    // a daily limit the files left out are the last ones picked, not the first ones listed.
    const next = state.items.reduce<UploadItem | undefined>((first, item) => (item.status === 'waiting' && (!first || item.key < first.key) ? item : first), undefined)
    if (!next || active >= PARALLEL) return
    if (next.file.size > api.config.max_upload_bytes) return update(next.key, { status: 'error', failure: new ApiError(413, 'file_too_large', '') })
    // Each start sets the state, which pumps again for the next one.
    start(next, choices)
  }

  return {
    get state() {
      return state
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
    add(files) {
      const added: UploadItem[] = [...files].map((file) => ({ key: nextKey++, file, loaded: 0, status: 'waiting' }))
      if (added.length) set({ items: [...added, ...state.items] })
    },
    setChoices(choices) {
      set({ choices })
    },
    cancel(key) {
      const item = itemOf(key)
      if (!item || (item.status !== 'waiting' && item.status !== 'uploading')) return
      inFlight.get(key)?.abort()
      inFlight.delete(key)
      update(key, { status: 'cancelled', loaded: 0 })
    },
    retry(key) {
      const item = itemOf(key)
      if (item && mayRetry(item)) update(key, { status: 'waiting', loaded: 0, failure: undefined, retryAt: undefined })
    },
    reset() {
      for (const controller of inFlight.values()) controller.abort()
      inFlight.clear()
      set({ items: [], uploaded: [], quotaReached: null, choices: null, batch: [] })
    },
    markSeen() {
      if (state.batch.length && !state.items.some(isRunning)) set({ batch: [] })
    },
  }
}

export const UploadQueueContext = createContext<UploadQueue | null>(null)

/** The app's upload queue and its state, re-rendering the caller as it changes. */
export function useUploadQueue(): [UploadQueue, UploadQueueState] {
  const queue = useContext(UploadQueueContext)
  if (!queue) throw new Error('useUploadQueue outside the App')
  const [state, setState] = useState(queue.state)
  useEffect(() => {
    setState(queue.state)
    return queue.subscribe(() => setState(queue.state))
  }, [queue])
  return [queue, state]
}
