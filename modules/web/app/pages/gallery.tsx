import { useState } from 'preact/hooks'
import { ActionButton } from '../forms.tsx'
import { Link } from '../router.tsx'
import { Thumb } from '../thumb.tsx'
import { counted, formatBytes, ModerationBadge, PageTitle, Status, useLoad, useSession } from '../ui.tsx'

export interface OwnImage {
  id: string
  filename: string
  original_name: string | null
  title: string | null
  url: string
  thumbnail: string
  view_url: string
  is_public: boolean
  /** Hidden after abuse reports until an admin reviews it: a 404 to everyone, its owner and links included. */
  hidden_by_moderation: boolean
  views: number
  uploaded_at: string
  metadata: { width: number; height: number; size: number; format: string }
  /** Set when the image self-destructs after that many views: the owner's own look must not spend one. */
  max_views?: number | null
}

const PAGE_SIZE = 60

const nameOf = (image: OwnImage) => image.title || image.original_name || image.filename

export function GalleryPage() {
  const { api } = useSession()
  const [query, setQuery] = useState('')
  // Cursor paging: the stack holds the cursor of each page shown so far (null = first page).
  const [cursors, setCursors] = useState<(string | null)[]>([null])
  const [selected, setSelected] = useState<Set<string>>(new Set())
  const [status, setStatus] = useState<{ error?: string; message?: string }>({})
  const cursor = cursors.at(-1) ?? null
  const page = useLoad(async () => {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) })
    if (cursor) params.set('cursor', cursor)
    if (query) params.set('q', query)
    return (await api.remote<{ images: OwnImage[]; next_cursor: string | null }>('upload', 'GET', `/images?${params}`)).data
  }, [cursor, query])

  const images = page.data?.images ?? []
  const toggle = (id: string) =>
    setSelected((all) => {
      const next = new Set(all)
      if (next.has(id)) next.delete(id)
      else next.add(id)
      return next
    })

  // A selection covers only the cards in view: a new search or page starts without one, so the
  // delete button never acts on images the person can no longer see.
  const showPage = (next: (string | null)[]) => {
    setSelected(new Set())
    setCursors(next)
  }

  const deleteSelected = async () => {
    const names = images.filter((image) => selected.has(image.id)).map(nameOf)
    const what = names.length === selected.size && names.length <= 5 ? names.map((name) => `“${name}”`).join(', ') : `${selected.size} images`
    if (!selected.size || !confirm(`Delete ${what}? This cannot be undone.`)) return
    let failed = 0
    for (const id of selected) await api.remote('upload', 'DELETE', `/images/${id}`).catch(() => failed++)
    setStatus(failed ? { error: `${failed} could not be deleted.` } : { message: `${selected.size} deleted.` })
    setSelected(new Set())
    page.reload()
  }

  return (
    <section>
      <PageTitle>Gallery</PageTitle>
      <form
        class="toolbar"
        role="search"
        onSubmit={(event) => {
          event.preventDefault()
          setQuery(String(new FormData(event.currentTarget).get('q') ?? '').trim())
          showPage([null])
        }}
      >
        <label for="gallery-search" class="visually-hidden">Search by file name</label>
        <input id="gallery-search" name="q" type="search" placeholder="Search by file name" defaultValue={query} />
        <button type="submit" class="secondary">Search</button>
        <ActionButton class="danger" disabled={!selected.size} onClick={deleteSelected}>
          Delete selected{selected.size ? ` (${selected.size})` : ''}
        </ActionButton>
      </form>
      <Status error={status.error ?? page.error} message={status.message} />
      {page.loading && !page.data ? <p aria-live="polite">Loading…</p> : null}
      {page.data && !images.length ? (
        <p>{query ? `No image matches “${query}”.` : <>No images yet. <Link href="/upload">Upload some</Link>.</>}</p>
      ) : null}
      <ul class="grid" aria-label="Your images" data-testid="gallery-grid">
        {images.map((image) => {
          const name = nameOf(image)
          return (
            <li key={image.id} class={`card${selected.has(image.id) ? ' selected' : ''}`} data-testid="gallery-card">
              <Link href={`/gallery/${image.id}`} class="card-image" aria-label={`Open ${name}`}>
                {/* The view server answers 404 for a hidden image, to its owner too. */}
                {image.hidden_by_moderation ? <span class="thumb-holder" /> : <Thumb src={image.thumbnail} isPublic={image.is_public && image.max_views == null} alt="" />}
              </Link>
              <div class="card-body">
                <label class="check">
                  <input type="checkbox" checked={selected.has(image.id)} onChange={() => toggle(image.id)} aria-label={`Select ${name}`} />
                  <span class="card-name" title={name}>{name}</span>
                </label>
                <p class="muted small">
                  {formatBytes(image.metadata.size)} · {image.metadata.width}×{image.metadata.height} · {counted(image.views, 'view')} ·{' '}
                  <span class={image.is_public ? 'badge public' : 'badge private'}>{image.is_public ? 'Public' : 'Private'}</span>
                  {image.hidden_by_moderation ? <> <ModerationBadge /></> : null}
                </p>
              </div>
            </li>
          )
        })}
      </ul>
      <nav class="pager" aria-label="Pages">
        <button type="button" class="secondary" disabled={cursors.length < 2} onClick={() => showPage(cursors.slice(0, -1))}>Previous</button>
        <span>Page {cursors.length}</span>
        <button type="button" class="secondary" disabled={!page.data?.next_cursor} onClick={() => showPage([...cursors, page.data!.next_cursor])}>Next</button>
      </nav>
    </section>
  )
}

