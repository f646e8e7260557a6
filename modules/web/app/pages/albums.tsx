import { useState } from 'preact/hooks'
import { Form, SubmitButton } from '../forms.tsx'
import { Pager, listingError } from '../pager.tsx'
import { cursorsOf, Link, navigate, useNavigationNotice, useRouteContext, withCursors } from '../router.tsx'
import { counted, Field, formatDate, labelled, messageOf, ModerationBadge, PageTitle, Status, useFieldRefusal, useLoad, useSession } from '../ui.tsx'

export type Visibility = 'private' | 'unlisted' | 'public'

export interface Album {
  id: string
  title: string
  description: string | null
  visibility: Visibility
  has_password: boolean
  expires_at: string | null
  /** Hidden after abuse reports until an admin reviews it: its page and ZIP are a 404 to everyone. */
  hidden_by_moderation: boolean
  cover_image_id: string | null
  image_count: number
  views: number
  share_url: string
  zip_url: string
  created_at: string
  updated_at: string
}

export const VISIBILITY_LABELS: Record<Visibility, string> = {
  private: 'Private (only you)',
  unlisted: 'Unlisted (anyone with the link)',
  public: 'Public (listed on your profile)',
}

export function VisibilityBadge({ visibility }: { visibility: Visibility }) {
  return <span class={visibility === 'private' ? 'badge private' : 'badge public'}>{visibility[0]!.toUpperCase() + visibility.slice(1)}</span>
}

/** Past its end the album's link is a 404; the album-expiry job deletes it within minutes. */
export const hasEnded = (album: Pick<Album, 'expires_at'>) => album.expires_at !== null && new Date(album.expires_at).getTime() <= Date.now()

/** Whether visitors can reach the album's page at all, and if not why: shown where its visibility is. */
export function AlbumStateBadges({ album }: { album: Album }) {
  return (
    <>
      <VisibilityBadge visibility={album.visibility} />
      {album.hidden_by_moderation ? <> <ModerationBadge /></> : null}
      {hasEnded(album) ? <> <span class="badge private" data-testid="album-ended">Ended</span></> : null}
    </>
  )
}

const PAGE_SIZE = 50

/**
 * /albums: your albums, and a form to start a new one (which then opens in the editor). The page
 * shown is in the address (`?cursors=`, as on /gallery), so Back from an album and a reload keep it.
 */
export function AlbumsPage() {
  const { api } = useSession()
  const cursors = cursorsOf(useRouteContext().query)
  const [status, setStatus] = useState<{ error?: string; message?: string }>({})
  // A title refused (only spaces) is named by the field's label, which takes the focus.
  const refusal = useFieldRefusal('new-album-error', { invalid_title: 'title' })
  const cursor = cursors.at(-1)
  const list = useLoad(async () => {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) })
    if (cursor) params.set('cursor', cursor)
    return (await api.remote<{ albums: Album[]; next_cursor: string | null }>('upload', 'GET', `/api/v1/albums?${params}`)).data
  }, [cursor])

  // What the page before did (an album deleted), said here, where the person lands; and only
  // there: another page of the list, Back included, starts without it.
  useNavigationNotice(withCursors('/albums', cursors), (notice) => setStatus(notice ? { message: notice } : {}))

  const create = async (event: Event) => {
    const element = event.currentTarget as HTMLFormElement
    const form = new FormData(element)
    refusal.clear()
    setStatus({})
    try {
      const { data } = await api.remote<{ album: Album }>('upload', 'POST', '/api/v1/albums', {
        title: String(form.get('title') ?? ''),
        visibility: String(form.get('visibility') ?? 'private'),
      })
      navigate(`/albums/${data.album.id}`)
    } catch (error) {
      refusal.refuse(element, error, messageOf(error, { codes: { invalid_title: labelled('New album title', 'title') } }))
    }
  }

  const pageAt = (shown: string[]) => () => navigate(withCursors('/albums', shown))
  const nextCursor = list.data?.next_cursor

  const albums = list.data?.albums ?? []
  return (
    <section>
      <PageTitle>Albums</PageTitle>
      <Form class="panel inline" draft="new-album" onSubmit={create} aria-labelledby="h-new-album">
        <h2 id="h-new-album" class="visually-hidden">New album</h2>
        <Field label="New album title" name="title" required maxLength={200} errorId={refusal.errorOf('title')} />
        <div class="field">
          <label for="f-new-visibility">Who can see it</label>
          <select id="f-new-visibility" name="visibility">
            {(Object.keys(VISIBILITY_LABELS) as Visibility[]).map((v) => <option value={v}>{VISIBILITY_LABELS[v]}</option>)}
          </select>
        </div>
        <SubmitButton busyLabel="Creating…">Create album</SubmitButton>
      </Form>
      <Status error={refusal.error ?? status.error ?? listingError(list, 'your albums', '/albums')} message={status.message} errorId={refusal.error ? 'new-album-error' : undefined} retry={list} />
      {list.loading && !list.data ? <p aria-live="polite">Loading…</p> : null}
      {list.data && !albums.length ? <p>No albums yet.</p> : null}
      <ul class="album-list" aria-label="Your albums" data-testid="album-list">
        {albums.map((album) => (
          <li key={album.id} class="card album-row">
            <Link href={`/albums/${album.id}`} class="album-title">{album.title}</Link>
            <span class="muted small">
              {counted(album.image_count, 'image')} · {counted(album.views, 'view')}
              {album.has_password ? ' · password' : ''}
              {album.expires_at && !hasEnded(album) ? ` · expires ${formatDate(album.expires_at)}` : ''}
            </span>
            <span><AlbumStateBadges album={album} /></span>
          </li>
        ))}
      </ul>
      {/* No "Previous · Page 1 · Next" beside "No albums yet." */}
      {albums.length || cursors.length ? (
        <Pager
          position={`Page ${cursors.length + 1}`}
          toPrevious={cursors.length ? pageAt(cursors.slice(0, -1)) : null}
          toNext={nextCursor ? pageAt([...cursors, nextCursor]) : null}
          shown={list.data}
        />
      ) : null}
    </section>
  )
}
