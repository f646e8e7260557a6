import { useEffect, useRef, useState } from 'preact/hooks'
import { BandwidthLimitNotice, useBandwidthLimit } from '../bandwidth-notice.tsx'
import { ApiError, uploadFile } from '../api.ts'
import { Link } from '../router.tsx'
import { Thumb } from '../thumb.tsx'
import { CopyButton, PageTitle, formatBytes, formatDate, useSession, withLocalTimes } from '../ui.tsx'
import { MAX_VIEWS_RULE, UploadLifetimeChoices, lifetimeSummary } from './image-lifetime.tsx'

interface Item {
  key: number
  file: File
  loaded: number
  /** `not-sent`: held back once the daily upload limit was met (the page says so once, above the list). */
  status: 'waiting' | 'uploading' | 'processing' | 'done' | 'error' | 'not-sent'
  /** As the checkbox stood when the upload started: ticking it later changes only new uploads. */
  isPublic?: boolean
  error?: string
  /** A 409 duplicate_image's stored image: the error links to its page. */
  existingImageId?: string
  image?: { id: string; url: string; thumbnail: string; expires_at?: string | null; max_views?: number | null; views_left?: number | null }
}

/** How the list names a file: a pasted screenshot may come without a name. */
const nameOf = (item: Item) => item.file.name || 'pasted image'

/** Two at a time: the server processes two images at once by default; more would only queue there. */
const PARALLEL = 2

function describeError(error: unknown, file: File, maxBytes: number): string {
  if (!(error instanceof ApiError)) return 'The upload failed.'
  // A time in the server's words comes as an ISO instant: shown in the person's own time, as on the account page.
  const message = withLocalTimes(error.message)
  switch (error.code) {
    case 'file_too_large':
    case 'http_413':
      return `Too large: ${formatBytes(file.size)}; the limit is ${formatBytes(maxBytes)}.`
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

/** When the daily limit a 429 met lets uploads go again: its Retry-After, or null if not told. */
function quotaResetOf(error: ApiError): Date | null {
  const seconds = Number(error.headers?.get('retry-after'))
  return Number.isFinite(seconds) && seconds > 0 ? new Date(Date.now() + seconds * 1000) : null
}

function quotaSentence(notSent: number, resetsAt: Date | null): string {
  const files = notSent === 1 ? '1 file was' : `${notSent} files were`
  const again = resetsAt ? `You can upload again from ${formatDate(resetsAt)}.` : 'You can upload again when it resets.'
  return `Daily upload limit reached: ${files} not sent. ${again}`
}

export function UploadPage() {
  const { api, user } = useSession()
  const bandwidth = useBandwidthLimit()
  const [items, setItems] = useState<Item[]>([])
  const [isPublic, setIsPublic] = useState(user?.settings.default_is_public ?? true)
  const [dragging, setDragging] = useState(false)
  const [lifetime, setLifetime] = useState<{ fields: Record<string, string>; error?: string }>({ fields: {} })
  // What is read out: each file's outcome once, never its progress. Failures are read out by their
  // own alert in the list; here each finished upload is added, in the order they finish.
  const [uploaded, setUploaded] = useState<{ key: number; name: string }[]>([])
  // Set by the first refusal for the daily limit: files waiting then, or added before it resets, are not sent.
  const [quotaReached, setQuotaReached] = useState<{ resetsAt: Date | null } | null>(null)
  const nextKey = useRef(1)
  const input = useRef<HTMLInputElement>(null)
  const update = (key: number, change: Partial<Item>) => setItems((all) => all.map((item) => (item.key === key ? { ...item, ...change } : item)))

  const add = (files: Iterable<File>) => {
    const added: Item[] = [...files].map((file) => ({ key: nextKey.current++, file, loaded: 0, status: 'waiting' }))
    if (added.length) setItems((all) => [...added, ...all])
  }

  // The queue: whenever fewer than PARALLEL are in flight, start the oldest waiting file.
  // A view limit the server would refuse holds every file until it is fixed: nothing is sent.
  useEffect(() => {
    if (lifetime.error) return
    if (quotaReached && (quotaReached.resetsAt === null || Date.now() < quotaReached.resetsAt.getTime())) {
      if (items.some((item) => item.status === 'waiting')) setItems((all) => all.map((item) => (item.status === 'waiting' ? { ...item, status: 'not-sent' } : item)))
      return
    }
    const active = items.filter((item) => item.status === 'uploading' || item.status === 'processing').length
    const waiting = items.filter((item) => item.status === 'waiting').reverse().slice(0, Math.max(0, PARALLEL - active))
    for (const item of waiting) {
      if (item.file.size > api.config.max_upload_bytes) {
        update(item.key, { status: 'error', error: describeError(new ApiError(413, 'file_too_large', ''), item.file, api.config.max_upload_bytes) })
        continue
      }
      update(item.key, { status: 'uploading', isPublic })
      uploadFile(api, item.file, {
        isPublic,
        fields: lifetime.fields,
        onProgress: ({ loaded, total }) => update(item.key, { loaded, status: loaded >= total ? 'processing' : 'uploading' }),
      }).then(
        (answer) => {
          update(item.key, { status: 'done', loaded: item.file.size, image: answer.image })
          setUploaded((all) => [...all, { key: item.key, name: nameOf(item) }])
        },
        (error) => {
          if (error instanceof ApiError && error.code === 'upload_limit_reached') {
            update(item.key, { status: 'not-sent' })
            setQuotaReached({ resetsAt: quotaResetOf(error) })
          } else {
            const existingImageId = error instanceof ApiError && error.code === 'duplicate_image' ? existingImageOf(error) : undefined
            update(item.key, { status: 'error', error: describeError(error, item.file, api.config.max_upload_bytes), existingImageId })
          }
        },
      )
    }
  }, [items, lifetime, quotaReached])

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
        <p class="hint">JPEG, PNG, GIF, WebP, AVIF or BMP, up to {formatBytes(api.config.max_upload_bytes)} each.</p>
      </div>
      <label class="check">
        <input type="checkbox" checked={isPublic} onChange={(event) => setIsPublic((event.currentTarget as HTMLInputElement).checked)} />
        Public (anyone with the link can see new uploads)
      </label>
      <UploadLifetimeChoices onChange={(fields, error) => setLifetime({ fields, error })} />
      <div class="visually-hidden" role="status" data-testid="upload-outcomes">
        {uploaded.map(({ key, name }) => <p key={key}>{name} uploaded.</p>)}
      </div>
      {quotaReached ? (
        <p class="error" role="alert" data-testid="quota-reached">
          {quotaSentence(items.filter((item) => item.status === 'not-sent').length, quotaReached.resetsAt)}
        </p>
      ) : null}
      <ul class="uploads" aria-label="Uploads">
        {items.map((item) => (
          <li key={item.key} class={`upload ${item.status}`} data-testid="upload-item">
            <div class="upload-name">
              <strong>{nameOf(item)}</strong> <span class="muted">{formatBytes(item.file.size)}</span>
            </div>
            {item.status === 'uploading' || item.status === 'processing' || item.status === 'waiting' ? (
              <div>
                <progress max={item.file.size || 1} value={item.loaded} aria-label={`Upload of ${nameOf(item)}`} />
                <span class="muted">
                  {item.status === 'waiting' ? (lifetime.error ? 'Waiting for a valid view limit…' : 'Waiting…') : item.status === 'processing' ? 'Processing…' : `${Math.round((item.loaded / (item.file.size || 1)) * 100)}%`}
                </span>
              </div>
            ) : null}
            {item.status === 'error' ? (
              <p class="error" role="alert">
                {item.error}
                {item.existingImageId ? <> <Link href={`/gallery/${item.existingImageId}`}>Open that image</Link> to change them.</> : null}
              </p>
            ) : null}
            {item.status === 'not-sent' ? <p class="muted">Not sent.</p> : null}
            {item.status === 'done' && item.image ? (
              <div class="upload-done">
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
