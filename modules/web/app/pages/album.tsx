import type { RefObject } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { ActionButton, Form, SubmitButton } from '../forms.tsx'
import { Pager } from '../pager.tsx'
import { cursorsOf, Link, navigate, useRouteContext, withCursors } from '../router.tsx'
import { Thumb } from '../thumb.tsx'
import { usePassed } from '../timers.ts'
import { CopyButton, counted, Field, formatDate, type FormWords, labelled, messageOf, PageTitle, PASSWORD_MAX_LENGTH, Status, useFieldRefusal, useLoad, useRefocus, useSession } from '../ui.tsx'
import { type Album, AlbumStateBadges, VISIBILITY_LABELS, type Visibility } from './albums.tsx'
import type { OwnImage } from './gallery.tsx'

interface AlbumImage {
  id: string
  title: string | null
  original_name: string | null
  filename: string
  is_public: boolean
  /** A self-destructing image: the owner's look must not spend a view. */
  max_views: number | null
  thumbnail: string
}

/** `shown_cover_image_id`: the cover visitors get, by the share page's rule (the chosen one may be left off it). */
type FullAlbum = Album & { images: AlbumImage[]; shown_cover_image_id: string | null }
type Message = { error?: string; message?: string }

/**
 * What happens once a change is saved: the message, where the focus goes if its button went away,
 * how refusals are worded, and who says a refusal, if not the part's own status line.
 */
type Done = { message?: string; focus?: () => HTMLElement | null | undefined; words?: FormWords; refused?: (error: unknown, text: string) => void }

/** The API's album password rule (modules/albums/model.ts `Password`), as the settings form labels the field. */
const ALBUM_PASSWORD_MIN_LENGTH = 4
const passwordRule = (label: string) => `${label}: ${ALBUM_PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters, not only spaces.`

/** The API's refusals of the settings, as the form labels its fields; `passwordLabel`: "Password", or "New password" once it has one. */
const settingsWords = (passwordLabel: string): FormWords => ({
  codes: { invalid_title: labelled('Title', 'title'), invalid_expires_at: labelled('Expires', 'expires_at') },
  fields: { password: () => passwordRule(passwordLabel) },
})

const nameOf = (image: { title: string | null; original_name: string | null; filename: string }) => image.title || image.original_name || image.filename

/** A datetime-local value (local time, minutes) for an ISO instant, and back. */
const toLocalInput = (iso: string | null) => {
  if (!iso) return ''
  const date = new Date(iso)
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16)
}

/** /albums/:id: edit one album, its images and their order, and share it. */
export function AlbumPage({ id }: { id: string }) {
  const { api } = useSession()
  const loaded = useLoad(async () => (await api.remote<{ album: FullAlbum }>('upload', 'GET', `/api/v1/albums/${id}`)).data.album, [id])
  // Asked for once the album is found: of an album that is not there, they would only be a second 404.
  const found = loaded.data !== undefined
  const stats = useLoad(async () => (found ? (await api.remote<{ visitors: number }>('upload', 'GET', `/api/v1/albums/${id}/stats`)).data : null), [id, found])
  const [album, setAlbum] = useState<FullAlbum | null>(null)
  const [status, setStatus] = useState<Record<string, Message>>({})
  const [focus, setFocus] = useState<{ id: string; action: string } | null>(null)
  // A refusal of the settings about one field (a password of spaces alone) marks it, is described by it, and takes the focus.
  const settingsRefusal = useFieldRefusal('album-settings-error')
  // One message at a time: a later one replaces an older one elsewhere on the page ("… removed." then "Album saved.").
  const say = (part: string, value: Message) => {
    settingsRefusal.clear()
    setStatus({ [part]: value })
  }
  const imagesStatus = useRef<HTMLDivElement>(null)
  // Saving re-creates the settings form, removing an image takes its row: the focus goes where `Done.focus` says.
  // After Remove that is the status line saying what was removed, as after the gallery's Delete: not
  // the next image's Remove, where one more Enter (or a key repeat) would take that one out too.
  const refocus = useRefocus(album)
  useEffect(() => void (loaded.data && setAlbum(loaded.data)), [loaded.data])
  // Its end can pass while the page is open, however far off it was then: the Share panel then says so.
  const ended = usePassed(album?.expires_at ? Date.parse(album.expires_at) : null)
  // A moved row is a moved DOM node, which loses focus: give it back to the same button.
  useEffect(() => {
    if (!focus) return
    const row = document.querySelector(`[data-image="${focus.id}"]`)
    const button = row?.querySelector<HTMLButtonElement>(`[data-action="${focus.action}"]:not(:disabled)`) ?? row?.querySelector<HTMLButtonElement>('[data-action]:not(:disabled)')
    button?.focus()
    setFocus(null)
  }, [album])

  if (loaded.error) {
    const missing = loaded.errorCode === 'album_not_found'
    // Keyed: once asked again and loaded, the album's page is a new one, whose heading takes the focus.
    return (
      <section key="failed">
        <PageTitle>{missing ? 'Album not found' : 'Album could not be loaded'}</PageTitle>
        {/* No Try again for the server's 404: it would answer the same. */}
        <Status error={loaded.error} retry={loaded} />
        <Link href="/albums">All albums</Link>
      </section>
    )
  }
  if (!album) return <p aria-live="polite">Loading…</p>

  const call = async (part: string, method: string, path: string, body: unknown, done: Done = {}) => {
    try {
      const { data } = await api.remote<{ album: FullAlbum }>('upload', method, path, body)
      if (done.focus) refocus(done.focus)
      setAlbum(data.album)
      say(part, { message: done.message })
      return true
    } catch (error) {
      const text = messageOf(error, done.words)
      if (done.refused) done.refused(error, text)
      else say(part, { error: text })
      return false
    }
  }
  const setOrder = (ids: string[], message: string) => call('images', 'PUT', `/api/v1/albums/${id}/images`, { image_ids: ids }, { message })
  const ids = album.images.map((image) => image.id)
  const passwordLabel = album.has_password ? 'New password' : 'Password'
  // The preview would be refused (409), as the page is to everyone.
  const unreachable = album.hidden_by_moderation || ended

  const move = (from: number, to: number, action?: string) => {
    if (to < 0 || to >= ids.length || from === to) return
    const next = [...ids]
    const [moved] = next.splice(from, 1)
    next.splice(to, 0, moved!)
    // Shown at once; the server's answer replaces it (or the error says why not).
    setAlbum({ ...album, images: next.map((imageId) => album.images.find((image) => image.id === imageId)!) })
    if (action) setFocus({ id: moved!, action })
    void setOrder(next, `${nameOf(album.images[from]!)} moved to position ${to + 1} of ${ids.length}.`)
  }

  const save = async (event: Event) => {
    const settingsForm = event.currentTarget as HTMLFormElement
    const form = new FormData(settingsForm)
    const expires = String(form.get('expires_at') ?? '')
    const body: Record<string, unknown> = {
      title: String(form.get('title') ?? ''),
      description: String(form.get('description') ?? '') || null,
      visibility: String(form.get('visibility')),
      expires_at: expires ? new Date(expires).toISOString() : null,
    }
    const password = String(form.get('password') ?? '')
    const refused = (error: unknown, text: string) => {
      say('settings', {})
      settingsRefusal.refuse(settingsForm, error, text)
    }
    // As the API refuses it: visitors would be asked for blanks.
    if (password && !password.trim()) {
      say('settings', {})
      return settingsRefusal.refuseAt(settingsForm, `${passwordLabel}: must not be only spaces.`, 'password')
    }
    if (password) body.password = password
    else if (form.get('remove_password')) body.password = null
    // The form is keyed by updated_at: a saved album renders a fresh one (the password field empty).
    await call('settings', 'PATCH', `/api/v1/albums/${id}`, body, {
      message: 'Album saved.',
      focus: () => document.querySelector<HTMLElement>('form[aria-labelledby="h-album-settings"] button[type="submit"]'),
      words: settingsWords(passwordLabel),
      refused,
    })
  }

  const remove = async () => {
    if (!confirm(`Delete the album “${album.title}”? Its images stay in your gallery.`)) return
    try {
      await api.remote('upload', 'DELETE', `/api/v1/albums/${id}`)
      // Replaces the entry: Back must not return to the page of an album that is gone.
      navigate('/albums', true, 'Album deleted.')
    } catch (error) {
      say('delete', { error: messageOf(error) })
    }
  }

  /**
   * The share page as visitors will see it, in a new tab, also while the album is private or
   * locked: the API hands out a preview link that works for an hour. The tab is opened before
   * the call, while the click still counts as the person's own, or a popup blocker could stop it.
   */
  const preview = async () => {
    const tab = window.open('', '_blank')
    if (tab) tab.opener = null
    try {
      const { data } = await api.remote<{ preview_url: string }>('upload', 'POST', `/api/v1/albums/${id}/preview`)
      if (tab) tab.location.href = data.preview_url
      else window.location.href = data.preview_url
      say('share', {})
    } catch (error) {
      tab?.close()
      say('share', { error: messageOf(error) })
    }
  }

  /** A drop on a row: an image from the picker is added there, a row from the list moves there. */
  const drop = (event: DragEvent, index: number) => {
    event.preventDefault()
    const data = event.dataTransfer?.getData('text/plain') ?? ''
    if (data.startsWith('move:')) return move(ids.indexOf(data.slice(5)), index)
    if (data.startsWith('add:') && !ids.includes(data.slice(4))) {
      const next = [...ids]
      next.splice(index, 0, data.slice(4))
      void setOrder(next, 'Image added.')
    }
  }
  const allowDrop = (event: DragEvent) => event.preventDefault()


  return (
    <section class="album-editor">
      <PageTitle>{album.title}</PageTitle>
      <p><Link href="/albums">All albums</Link> · <AlbumStateBadges album={album} /> · <span data-testid="album-views">{counted(album.views, 'view')}{stats.data ? ` by ${counted(stats.data.visitors, 'visitor')} in 30 days` : ''}</span></p>
      <div class="panels">
        <Form class="panel" draft="settings" onSubmit={save} aria-labelledby="h-album-settings" key={album.updated_at}>
          <h2 id="h-album-settings">Settings</h2>
          <Field label="Title" name="title" defaultValue={album.title} required maxLength={200} errorId={settingsRefusal.errorOf('title')} />
          <div class="field">
            <label for="f-description">Description</label>
            <textarea id="f-description" name="description" rows={3} maxLength={5000}>{album.description ?? ''}</textarea>
          </div>
          <div class="field">
            <label for="f-visibility">Who can see it</label>
            <select id="f-visibility" name="visibility">
              {(Object.keys(VISIBILITY_LABELS) as Visibility[]).map((v) => <option value={v} selected={v === album.visibility}>{VISIBILITY_LABELS[v]}</option>)}
            </select>
          </div>
          <Field label={passwordLabel} name="password" type="password" autocomplete="new-password" minLength={ALBUM_PASSWORD_MIN_LENGTH} maxLength={PASSWORD_MAX_LENGTH} hint={album.has_password ? 'Leave empty to keep the current one.' : 'Optional: viewers must enter it.'} errorId={settingsRefusal.errorOf('password')} />
          {album.has_password ? <label class="check"><input type="checkbox" name="remove_password" /> Remove the password</label> : null}
          <Field label="Expires" name="expires_at" type="datetime-local" min={toLocalInput(new Date().toISOString())} defaultValue={toLocalInput(album.expires_at)} hint="Optional: after this the link stops working." errorId={settingsRefusal.errorOf('expires_at')} />
          <Status error={settingsRefusal.error ?? status.settings?.error} message={status.settings?.message} errorId="album-settings-error" />
          <SubmitButton busyLabel="Saving…">Save settings</SubmitButton>
        </Form>
        <div class="panel">
          <h2>Share</h2>
          {album.hidden_by_moderation ? (
            <p class="warning" data-testid="album-hidden-notice">After reports, nobody is shown this album's page or ZIP, you included, until an administrator reviews it. Its images are not affected.</p>
          ) : ended ? (
            <p class="warning" data-testid="album-ended-notice">This album ended on {formatDate(album.expires_at!)}: its link is a 404, and within minutes the album is deleted (its images stay). A later end under Settings keeps it.</p>
          ) : album.visibility === 'private' ? (
            <p class="warning">This album is private: the link works only once you make it unlisted or public. Preview shows you its page as visitors will see it.</p>
          ) : null}
          {unreachable ? null : (
            <div class="snippet">
              <label for="f-share" class="visually-hidden">Share link</label>
              <input id="f-share" readOnly value={album.share_url} data-testid="share-url" />
              <CopyButton text={album.share_url} what="share link" />
            </div>
          )}
          {!unreachable && (album.visibility === 'private' || album.has_password) ? (
            <p><ActionButton class="secondary" busyLabel="Opening…" onClick={preview}>Preview the album page</ActionButton></p>
          ) : null}
          <Status {...status.share} />
          {unreachable ? null : <p><a href={album.share_url} target="_blank" rel="noopener">Open the album page</a> · <a href={album.zip_url}>Download as ZIP</a></p>}
          <h2>Delete</h2>
          <ActionButton class="danger" onClick={remove}>Delete album</ActionButton>
          <Status {...status.delete} />
        </div>
      </div>

      <h2 id="h-album-images">Images ({album.images.length})</h2>
      <p class="muted small">Drag to reorder, or use the arrow buttons. Drag images from your gallery below onto the list to add them.</p>
      <Status {...status.images} focusRef={imagesStatus} />
      <ol class="album-images" aria-labelledby="h-album-images" data-testid="album-images" onDragOver={allowDrop} onDrop={(event) => drop(event, ids.length)}>
        {album.images.map((image, index) => {
          const name = nameOf(image)
          const isCover = album.shown_cover_image_id === image.id
          return (
            <li
              key={image.id}
              data-image={image.id}
              class="album-image"
              draggable
              onDragStart={(event) => event.dataTransfer?.setData('text/plain', `move:${image.id}`)}
              onDragOver={allowDrop}
              onDrop={(event) => (event.stopPropagation(), drop(event, index))}
            >
              <Thumb src={image.thumbnail} image={image} alt="" size={64} />
              <span class="album-image-name" title={name}>{index + 1}. {name}{isCover ? <span class="badge"> cover</span> : null}</span>
              <span class="album-image-actions">
                <button type="button" class="small secondary" data-action="up" disabled={index === 0} onClick={() => move(index, index - 1, 'up')} aria-label={`Move ${name} up`}>↑</button>
                <button type="button" class="small secondary" data-action="down" disabled={index === ids.length - 1} onClick={() => move(index, index + 1, 'down')} aria-label={`Move ${name} down`}>↓</button>
                <ActionButton class="small secondary" aria-pressed={album.cover_image_id === image.id} onClick={() => call('images', 'PATCH', `/api/v1/albums/${id}`, { cover_image_id: image.id }, { message: `${name} is the cover.` })} aria-label={`Use ${name} as cover`}>Cover</ActionButton>
                <ActionButton class="small danger" data-action="remove" onClick={() => call('images', 'DELETE', `/api/v1/albums/${id}/images/${image.id}`, undefined, { message: `${name} removed.`, focus: () => imagesStatus.current })} aria-label={`Remove ${name} from the album`}>Remove</ActionButton>
              </span>
            </li>
          )
        })}
      </ol>
      {!album.images.length ? <p class="dropzone">No images yet: add some from your gallery below.</p> : null}
      <Picker albumId={id} inAlbum={new Set(ids)} added={imagesStatus} onAdd={(add) => call('images', 'POST', `/api/v1/albums/${id}/images`, { image_ids: add }, { message: `${counted(add.length, 'image')} added.` })} />
    </section>
  )
}

/**
 * Your gallery, to pick images from: tick and add, or drag onto the album's list. Its page is in
 * the address (`?cursors=`, as on /gallery), so Back and a reload keep it. `added`: the message
 * that says what was added, which takes the focus from the Add button (disabled once nothing is ticked).
 */
function Picker({ albumId, inAlbum, added, onAdd }: { albumId: string; inAlbum: Set<string>; added: RefObject<HTMLDivElement | null>; onAdd: (ids: string[]) => Promise<boolean> }) {
  const { api } = useSession()
  const cursors = cursorsOf(useRouteContext().query)
  const [selected, setSelected] = useState<string[]>([])
  const refocus = useRefocus(selected)
  const cursor = cursors.at(-1)
  const page = useLoad(async () => {
    const params = new URLSearchParams({ limit: '30' })
    if (cursor) params.set('cursor', cursor)
    return (await api.remote<{ images: OwnImage[]; next_cursor: string | null }>('upload', 'GET', `/images?${params}`)).data
  }, [cursor])
  const toggle = (imageId: string) => setSelected((all) => (all.includes(imageId) ? all.filter((x) => x !== imageId) : [...all, imageId]))
  const add = async () => {
    if (!(await onAdd(selected))) return
    refocus(() => added.current)
    setSelected([])
  }
  const pageAt = (next: string[]) => navigate(withCursors(`/albums/${albumId}`, next))
  return (
    <section class="picker" aria-labelledby="h-picker">
      <h2 id="h-picker">Add from your gallery</h2>
      <Status error={page.error} retry={page} />
      <ul class="grid" aria-label="Your images" data-testid="picker">
        {(page.data?.images ?? []).map((image) => {
          const name = image.title || image.original_name || image.filename
          const already = inAlbum.has(image.id)
          return (
            <li key={image.id} class={`card${selected.includes(image.id) ? ' selected' : ''}`} draggable={!already} onDragStart={(event) => event.dataTransfer?.setData('text/plain', `add:${image.id}`)}>
              <span class="card-image"><Thumb src={image.thumbnail} image={image} alt="" /></span>
              <div class="card-body">
                <label class="check">
                  <input type="checkbox" disabled={already} checked={already || selected.includes(image.id)} onChange={() => toggle(image.id)} aria-label={already ? `${name} is in the album` : `Add ${name}`} />
                  <span class="card-name" title={name}>{name}</span>
                </label>
              </div>
            </li>
          )
        })}
      </ul>
      <div class="toolbar">
        <ActionButton disabled={!selected.length} onClick={add}>Add selected{selected.length ? ` (${selected.length})` : ''}</ActionButton>
      </div>
      {/* The shared pager keeps the keyboard focus on Previous or Next while the page asked for loads (Next is disabled on the last). */}
      <Pager
        position={`Page ${cursors.length + 1}`}
        toPrevious={cursors.length ? () => pageAt(cursors.slice(0, -1)) : null}
        toNext={page.data?.next_cursor ? () => pageAt([...cursors, page.data!.next_cursor!]) : null}
        shown={page.data}
      />
    </section>
  )
}
