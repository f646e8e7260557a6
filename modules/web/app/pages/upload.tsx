import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError, isUnavailable, unavailableSentence } from '../api.ts'
import { BandwidthLimitNotice, useBandwidthLimit } from '../bandwidth-notice.tsx'
import { Link } from '../router.tsx'
import { Thumb } from '../thumb.tsx'
import { useSecondsLeft } from '../timers.ts'
import { CopyButton, PageTitle, counted, formatBytes, formatBytesApart, formatDate, useSession, withLocalTimes } from '../ui.tsx'
import { type UploadChoices, type UploadItem, mayRetry, nameOf, useUploadQueue } from '../upload-queue.ts'
import { MAX_VIEWS_RULE, UploadLifetimeChoices, lifetimeSummary } from './image-lifetime.tsx'

/** The file's size, and once uploaded the stored original's (the file less its metadata), as the gallery shows it, where the two differ. */
function sizeOf(item: UploadItem): string {
  const picked = formatBytes(item.file.size)
  const stored = item.status === 'done' && item.image ? formatBytes(item.image.metadata.size) : picked
  return stored === picked ? picked : `${picked}, stored ${stored}`
}

function describeError(error: unknown, file: File, maxBytes: number): string {
  if (!(error instanceof ApiError)) return 'The upload failed.'
  // A time in the server's words comes as an ISO instant: shown in the person's own time, as on the account page.
  const message = withLocalTimes(error.message)
  switch (error.code) {
    case 'file_too_large':
    case 'http_413': {
      const [size, limit] = formatBytesApart(file.size, maxBytes)
      return `Too large: ${size}; the limit is ${limit}.`
    }
    case 'unsupported_format':
      return `Unsupported format. ${message}`
    case 'storage_quota_exceeded':
      return `Storage full. ${message}`
    // The page checks both before sending; this is the net if the server's bounds ever differ.
    case 'invalid_max_views':
      return MAX_VIEWS_RULE
    case 'invalid_expires_in':
      return 'Expire in: choose one of the offered times.'
    // Another visibility, title or description, or an end for one kept for good: all changed on its
    // page, which the item links to. Without the image named, it ended meanwhile: the server says so.
    case 'duplicate_image':
      return existingImageOf(error) ? 'You uploaded this image before with other settings.' : message
    default:
      return message
  }
}

/** The image a 409 duplicate_image names in its details (modules/upload/service.ts). */
const existingImageOf = (error: ApiError) => error.details.find((problem) => problem.field === 'image')?.value

function quotaSentence(notSent: number, resetsAt: Date | null): string {
  const files = notSent === 1 ? '1 file was' : `${notSent} files were`
  const again = resetsAt ? `You can upload again from ${formatDate(resetsAt)}.` : 'You can upload again when it resets.'
  return `Daily upload limit reached: ${files} not sent. ${again}`
}

/** A wait shorter than this is counted down in seconds, where a time of day to the minute would read as "now". */
const RETRY_COUNTED_BELOW_SECONDS = 120

/**
 * When to retry, as the server's Retry-After says it: a wait of under 2 minutes counted down in
 * seconds ("Retry in 5 seconds", then 4…); a longer one as the time it ends. Once it has passed,
 * that one can. `otherwise`: the sentence without a Retry-After.
 *
 * It stands inside the row's alert, which reads the wait once when the refusal comes: the count is
 * kept out of that live region (aria-live="off"), or it would be read out again every second. "You
 * can retry now." is the alert's own text again, read once when the wait is over.
 */
function RetryWhen({ at, otherwise }: { at?: Date; otherwise: string }) {
  const left = useSecondsLeft(at ? at.getTime() : null, RETRY_COUNTED_BELOW_SECONDS)
  if (!at || left === null) return <>{otherwise}</>
  if (left === 0) return <>You can retry now.</>
  return <span aria-live="off" data-testid="retry-wait">{left < RETRY_COUNTED_BELOW_SECONDS ? `Retry in ${counted(left, 'second')}.` : `Retry from ${formatDate(at)}.`}</span>
}

/** What a failed item says: why, and for one Retry may cure, when to try (a Retry-After) or that it may. */
function Failure({ item, maxBytes }: { item: UploadItem; maxBytes: number }) {
  const error = item.failure
  if (!(error instanceof ApiError)) return <>{describeError(error, item.file, maxBytes)}</>
  if (error.code === 'network_error') return <>The upload server could not be reached. Check your connection, then retry.</>
  if (error.status === 429) return <>Too many requests just now. <RetryWhen at={item.retryAt} otherwise="Retry in a few minutes." /></>
  if (isUnavailable(error.status)) return <>{unavailableSentence(error.status, 'The upload server')} <RetryWhen at={item.retryAt} otherwise="Retry in a minute." /></>
  return <>{describeError(error, item.file, maxBytes)}</>
}

/** Before the page first shows: public as the account's setting says, no end. */
const defaultChoices = (isPublic: boolean): UploadChoices => ({ isPublic, expiresIn: '', maxViews: { typed: '' } })

export function UploadPage() {
  const { api, user } = useSession()
  const bandwidth = useBandwidthLimit()
  // The queue outlives this page (upload-queue.ts): leaving for the gallery and coming back shows it as it goes on.
  const [queue, { items, uploaded, quotaReached, choices: kept }] = useUploadQueue()
  const choices = kept ?? defaultChoices(user?.settings.default_is_public ?? true)
  useEffect(() => void (kept || queue.setChoices(choices)), [])
  // Shown here, a batch that is over is seen: the header's indicator on the other pages goes.
  useEffect(() => queue.markSeen(), [items])
  const [dragging, setDragging] = useState(false)
  const input = useRef<HTMLInputElement>(null)
  const add = (files: Iterable<File>) => queue.add(files)
  const maxBytes = api.config.max_upload_bytes
  // Cancel and Retry take their own button away, and a retried row changes again as it goes
  // (waiting, sending, processing, then done or failed), each time taking what had the focus. Until
  // the row settles, a focus fallen to <body> goes to what the row offers now, in this order:
  // Cancel, Retry, the link of the image uploaded, else what the row says.
  const followed = useRef<number | null>(null)
  const list = useRef<HTMLUListElement>(null)
  useEffect(() => {
    const key = followed.current
    if (key === null) return
    const item = items.find((candidate) => candidate.key === key)
    const row = list.current?.querySelector(`[data-key="${key}"]`)
    const active = document.activeElement
    if (row && (!active || active === document.body)) {
      const target = ['[data-action="cancel"]', '[data-action="retry"]', '.upload-done input', '[data-row-status]'].map((selector) => row.querySelector<HTMLElement>(selector)).find((found) => found)
      target?.focus()
    }
    if (!item || !['waiting', 'uploading', 'processing'].includes(item.status)) followed.current = null
  }, [items])
  const cancel = (key: number) => {
    followed.current = key
    queue.cancel(key)
  }
  const retry = (key: number) => {
    followed.current = key
    queue.retry(key)
  }

  // Paste anywhere on the page: screenshots go straight up.
  useEffect(() => {
    const onPaste = (event: ClipboardEvent) => {
      const files = [...(event.clipboardData?.files ?? [])]
      if (files.length) {
        event.preventDefault()
        add(files)
      }
    }
    document.addEventListener('paste', onPaste)
    return () => document.removeEventListener('paste', onPaste)
  }, [])

  const onDrop = (event: DragEvent) => {
    event.preventDefault()
    setDragging(false)
    add(event.dataTransfer?.files ?? [])
  }

  return (
    <section>
      <PageTitle>Upload</PageTitle>
      <BandwidthLimitNotice state={bandwidth} />
      <div
        class={`dropzone${dragging ? ' dragging' : ''}`}
        data-testid="dropzone"
        onDragOver={(event) => {
          event.preventDefault()
          setDragging(true)
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <p>Drop images here, paste from the clipboard (Ctrl+V), or</p>
        {/* A real button (focusable, visible focus ring) opens the hidden picker. */}
        <button type="button" onClick={() => input.current?.click()}>Choose files</button>
        <input
          id="file-input"
          ref={input}
          class="visually-hidden"
          tabIndex={-1}
          aria-label="Choose files to upload"
          type="file"
          multiple
          accept="image/jpeg,image/png,image/gif,image/webp,image/avif,image/bmp"
          onChange={(event) => {
            add((event.currentTarget as HTMLInputElement).files ?? [])
            ;(event.currentTarget as HTMLInputElement).value = ''
          }}
        />
        <p class="hint">JPEG, PNG, GIF, WebP, AVIF or BMP, up to {formatBytes(maxBytes)} each.</p>
      </div>
      <label class="check">
        <input type="checkbox" checked={choices.isPublic} onChange={(event) => queue.setChoices({ ...choices, isPublic: (event.currentTarget as HTMLInputElement).checked })} />
        Public (anyone with the link can see new uploads)
      </label>
      <UploadLifetimeChoices value={choices} onChange={(lifetime) => queue.setChoices({ ...choices, ...lifetime })} />
      {/* What is read out: each file's outcome once, never its progress. Failures are read out by their own alert in the list. */}
      <div class="visually-hidden" role="status" data-testid="upload-outcomes">
        {uploaded.map(({ key, name, existing }) => <p key={key}>{existing ? `${name} was already uploaded.` : `${name} uploaded.`}</p>)}
      </div>
      {quotaReached ? (
        <p class="error" role="alert" data-testid="quota-reached">
          {quotaSentence(items.filter((item) => item.status === 'not-sent').length, quotaReached.resetsAt)}
        </p>
      ) : null}
      <ul class="uploads" aria-label="Uploads" ref={list}>
        {items.map((item) => (
          <li key={item.key} class={`upload ${item.status}`} data-testid="upload-item" data-key={item.key}>
            <div class="upload-name">
              <strong>{nameOf(item)}</strong> <span class="muted">{sizeOf(item)}</span>
            </div>
            {item.status === 'uploading' || item.status === 'processing' || item.status === 'waiting' ? (
              <div>
                <progress max={item.file.size || 1} value={item.loaded} aria-label={`Upload of ${nameOf(item)}`} />
                <span class="muted" tabIndex={-1} data-row-status>
                  {item.status === 'waiting' ? (choices.maxViews.error ? 'Waiting for a valid view limit…' : 'Waiting…') : item.status === 'processing' ? 'Processing…' : `${Math.round((item.loaded / (item.file.size || 1)) * 100)}%`}
                </span>
                {/* Once sent, the server has the file: processing is not stopped half-way. */}
                {item.status !== 'processing' ? (
                  <>
                    {' '}
                    <button type="button" class="small secondary" data-action="cancel" onClick={() => cancel(item.key)} aria-label={`Cancel the upload of ${nameOf(item)}`}>Cancel</button>
                  </>
                ) : null}
              </div>
            ) : null}
            {item.status === 'error' ? (
              <p class="error" role="alert">
                <Failure item={item} maxBytes={maxBytes} />
                {item.failure instanceof ApiError && existingImageOf(item.failure) ? <> <Link href={`/gallery/${existingImageOf(item.failure)}`}>Open that image</Link> to change them.</> : null}
              </p>
            ) : null}
            {item.status === 'cancelled' ? <p class="muted" tabIndex={-1} data-row-status>Cancelled.</p> : null}
            {mayRetry(item) ? (
              <button type="button" class="small secondary" data-action="retry" onClick={() => retry(item.key)} aria-label={`Retry the upload of ${nameOf(item)}`}>Retry</button>
            ) : null}
            {item.status === 'not-sent' ? <p class="muted">Not sent.</p> : null}
            {item.status === 'done' && item.image ? (
              <div class="upload-done">
                {/* The same bytes with the same settings: the server gave back the image it has, nothing new was stored. */}
                {item.existing ? <p class="muted small" data-row-status tabIndex={-1}>{nameOf(item)} was already uploaded.</p> : null}
                {/* The upload answer names max_views only for an image that ends (modules/upload/present.ts): none is no limit. */}
                <Thumb src={item.image.thumbnail} image={{ is_public: item.isPublic === true, max_views: item.image.max_views ?? null }} alt="" size={64} />
                <input readOnly value={item.image.url} aria-label={`Link to ${nameOf(item)}`} />
                <CopyButton text={item.image.url} what={`to ${nameOf(item)}`} label="Copy link" />
                <Link href={`/gallery/${item.image.id}`} aria-label={`Open ${nameOf(item)}`}>Open</Link>
                {lifetimeSummary(item.image) ? <span class="muted small">{lifetimeSummary(item.image)}</span> : null}
              </div>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  )
}
