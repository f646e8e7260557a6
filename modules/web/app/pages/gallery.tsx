import { Fragment } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError } from '../api.ts'
import { BandwidthLimitNotice, useBandwidthLimit } from '../bandwidth-notice.tsx'
import { ActionButton } from '../forms.tsx'
import { Pager, listingError } from '../pager.tsx'
import { cursorsOf, Link, navigate, useNavigationNotice, useRouteContext, withCursors } from '../router.tsx'
import { Thumb } from '../thumb.tsx'
import { counted, formatBytes, formatDate, ModerationBadge, PageTitle, Status, useLoad, useRefocus, useSession } from '../ui.tsx'

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
  /** When the image ends, if it does (the image page changes it). */
  expires_at: string | null
  /** Set when the image self-destructs after that many views: the owner's own look must not spend one. */
  max_views: number | null
  views_left: number | null
}

const PAGE_SIZE = 60
/** The longest search the API takes (modules/upload/model.ts, `q`; modules may not import each other). */
const SEARCH_MAX_LENGTH = 200

const nameOf = (image: OwnImage) => image.title || image.original_name || image.filename

/** "Ends in 1 hour", "2 of 3 views left": a card's short word on how the image ends, if it does. */
export function endingMarkers(image: Pick<OwnImage, 'expires_at' | 'max_views' | 'views_left'>, now = Date.now()): string[] {
  const markers: string[] = []
  if (image.expires_at) {
    const minutes = (Date.parse(image.expires_at) - now) / 60_000
    if (minutes < 1) markers.push('Ends in under a minute')
    else if (minutes < 59.5) markers.push(`Ends in ${counted(Math.round(minutes), 'minute')}`)
    else if (minutes < 23.5 * 60) markers.push(`Ends in ${counted(Math.round(minutes / 60), 'hour')}`)
    else markers.push(`Ends in ${counted(Math.round(minutes / (24 * 60)), 'day')}`)
  }
  if (image.max_views != null) markers.push(`${image.views_left ?? 0} of ${image.max_views} views left`)
  return markers
}

/** "2 deleted (1 was already gone).": what a bulk delete did, or undefined when it did nothing. */
function deletedSentence(deleted: number, gone: number): string | undefined {
  const already = `${gone} ${gone === 1 ? 'was' : 'were'} already gone`
  if (!deleted) return gone ? `${already}.` : undefined
  return gone ? `${deleted} deleted (${already}).` : `${deleted} deleted.`
}

/**
 * The listing shown lives in the address, so Back from an image page and a reload return to it.
 * The API pages by cursor, so the address keeps the cursor of every page after the first (a
 * cursor is base64url, never holding a comma): Previous then works after a reload too.
 */
interface Listing {
  query: string
  cursors: string[]
}

const listingOf = (params: URLSearchParams): Listing => ({ query: params.get('q')?.trim() ?? '', cursors: cursorsOf(params) })

const hrefOf = ({ query, cursors }: Listing) => withCursors('/gallery', cursors, new URLSearchParams(query ? { q: query } : {}))

export function GalleryPage() {
  const { api } = useSession()
  // Over the month's bandwidth, public images reach their owner only with credentials (Thumb's fetch).
  const bandwidth = useBandwidthLimit()
  const limited = bandwidth?.bandwidth_limit_reached === true
  const { query, cursors } = listingOf(useRouteContext().query)
  const shown = hrefOf({ query, cursors })
  const cursor = cursors.at(-1)
  const [selected, setSelected] = useState<Set<string>>(new Set())
  const [status, setStatus] = useState<{ error?: string; message?: string }>({})
  const page = useLoad(async () => {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) })
    if (cursor) params.set('cursor', cursor)
    if (query) params.set('q', query)
    const { images, next_cursor } = (await api.remote<{ images: OwnImage[]; next_cursor: string | null }>('upload', 'GET', `/images?${params}`)).data
    return { listing: shown, images, next_cursor }
  }, [cursor, query])

  const images = page.data?.images ?? []
  // An address the gallery did not give out (a `?cursors=` cut short or edited, a search made
  // longer by hand than the box takes) is told in the gallery's words, not the API's.
  const loadError =
    page.errorCode === 'validation_failed' && query.length > SEARCH_MAX_LENGTH
      ? `Search: at most ${SEARCH_MAX_LENGTH} characters.`
      : listingError(page, 'the gallery', hrefOf({ query, cursors: [] }))
  // The previous listing's cards stay up while the next one loads; only an answer for this one may
  // say that it is empty.
  const emptyHere = page.data?.listing === shown && !images.length
  // Nothing to select and no other page (an empty gallery or search, or the first load): no
  // disabled Delete selected and no "Previous · Page 1 · Next" beside the empty-state message.
  const hasCards = images.length > 0
  const toggle = (id: string) =>
    setSelected((all) => {
      const next = new Set(all)
      if (next.has(id)) next.delete(id)
      else next.add(id)
      return next
    })

  // What the page before did (an image deleted), said here, where the person lands; and only
  // there: another search or page, Back included, starts without it.
  useNavigationNotice(shown, (notice) => setStatus(notice ? { message: notice } : {}))

  // A selection covers only the cards in view: a new search or page (Back included) starts
  // without one, so the delete button never acts on images the person can no longer see.
  useEffect(() => setSelected(new Set()), [shown])

  // A page after the first comes back empty once its images are gone (deleted here, or elsewhere
  // before a reload or Back): show the page before it, in place of this entry, rather than an
  // empty gallery. What emptied it ("10 deleted.") is said there too.
  useEffect(() => {
    if (emptyHere && cursors.length) navigate(hrefOf({ query, cursors: cursors.slice(0, -1) }), true, status.message)
  }, [emptyHere, shown])

  const heading = useRef<HTMLHeadingElement>(null)
  const statusRegion = useRef<HTMLDivElement>(null)
  const searchBox = useRef<HTMLInputElement>(null)
  const refocusAfterLoad = useRefocus(page.data)
  // Next is disabled while the page it asked for loads (only an answer for this listing gives the
  // cursor after it); the pager puts the focus back once that page is shown.
  const nextCursor = page.data?.listing === shown ? page.data.next_cursor : null
  const showPage = (shownCursors: string[]) => () => navigate(hrefOf({ query, cursors: shownCursors }))
  // Enter in the search box re-creates it (it is keyed by the search): the new one takes the focus.
  const refocusAfterSearch = useRefocus(query)

  const deleteSelected = async () => {
    const names = images.filter((image) => selected.has(image.id)).map(nameOf)
    const what = names.length === selected.size && names.length <= 5 ? names.map((name) => `“${name}”`).join(', ') : `${selected.size} images`
    if (!selected.size || !confirm(`Delete ${what}? This cannot be undone.`)) return
    const outcome = { deleted: 0, gone: 0, failed: 0 }
    for (const id of selected) {
      await api.remote('upload', 'DELETE', `/images/${id}`).then(
        () => outcome.deleted++,
        // Deleted meanwhile (in another tab, by its expiry or its last view): what was asked is done.
        (error) => (error instanceof ApiError && error.status === 404 ? outcome.gone++ : outcome.failed++),
      )
    }
    setStatus({ message: deletedSentence(outcome.deleted, outcome.gone), error: outcome.failed ? `${outcome.failed} could not be deleted.` : undefined })
    // The emptied selection disables the button, which drops the focus: it goes to what was done.
    refocusAfterLoad(() => statusRegion.current)
    setSelected(new Set())
    page.reload()
  }

  return (
    <section>
      <PageTitle headingRef={heading}>Gallery</PageTitle>
      <BandwidthLimitNotice state={bandwidth} />
      <form
        class="toolbar"
        role="search"
        onSubmit={(event) => {
          event.preventDefault()
          const searched = String(new FormData(event.currentTarget).get('q') ?? '').trim()
          if (searched !== query) refocusAfterSearch(() => searchBox.current)
          navigate(hrefOf({ query: searched, cursors: [] }))
        }}
      >
        <label for="gallery-search" class="visually-hidden">Search by title, file name or description</label>
        {/* Keyed by the search, so Back to another search shows its text. */}
        <input key={query} ref={searchBox} id="gallery-search" name="q" type="search" placeholder="Search by title, file name or description" maxLength={SEARCH_MAX_LENGTH} defaultValue={query} />
        <button type="submit" class="secondary">Search</button>
        {hasCards ? (
          <ActionButton class="danger" disabled={!selected.size} onClick={deleteSelected}>
            Delete selected{selected.size ? ` (${selected.size})` : ''}
          </ActionButton>
        ) : null}
      </form>
      <Status error={status.error ?? loadError} message={status.message} focusRef={statusRegion} retry={page} />
      {page.loading && !page.data ? <p aria-live="polite">Loading…</p> : null}
      {emptyHere && !cursors.length ? (
        <p>{query ? `No image matches “${query}”.` : <>No images yet. <Link href="/upload">Upload some</Link>.</>}</p>
      ) : null}
      <ul class="grid" aria-label="Your images" data-testid="gallery-grid">
        {images.map((image) => {
          const name = nameOf(image)
          return (
            <li key={image.id} class={`card${selected.has(image.id) ? ' selected' : ''}`} data-testid="gallery-card">
              <Link href={`/gallery/${image.id}`} class="card-image" aria-label={`Open ${name}`}>
                {/* The view server answers 404 for a hidden image, to its owner too. */}
                {image.hidden_by_moderation ? <span class="thumb-holder" /> : <Thumb src={image.thumbnail} image={image} asOwner={limited} alt="" />}
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
                  {endingMarkers(image).map((marker) => (
                    <Fragment key={marker}>
                      {' · '}
                      <span data-testid="ending-marker" title={marker.startsWith('Ends') ? `Expires ${formatDate(image.expires_at)}` : undefined}>{marker}</span>
                    </Fragment>
                  ))}
                </p>
              </div>
            </li>
          )
        })}
      </ul>
      {hasCards || cursors.length ? (
        <Pager
          position={`Page ${cursors.length + 1}`}
          toPrevious={cursors.length ? showPage(cursors.slice(0, -1)) : null}
          toNext={nextCursor ? showPage([...cursors, nextCursor]) : null}
          shown={page.data}
          fallback={heading}
        />
      ) : null}
    </section>
  )
}

