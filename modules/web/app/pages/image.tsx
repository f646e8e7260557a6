import { useEffect, useState } from 'preact/hooks'
import { ApiError } from '../api.ts'
import { BandwidthLimitNotice, useBandwidthLimit } from '../bandwidth-notice.tsx'
import { ActionButton, Form, SubmitButton } from '../forms.tsx'
import { Link, navigate } from '../router.tsx'
import { type ViewStats, ViewsReport } from '../stats-report.tsx'
import { Thumb } from '../thumb.tsx'
import { atInstant } from '../timers.ts'
import { CopyButton, counted, formatBytes, formatDate, type FormWords, labelled, messageOf, ModerationBadge, PageTitle, Status, useLoad, useRefocus, useSession } from '../ui.tsx'
import { DetailsForm, EXPIRES_AT_FIELD, type ImageWithLifetime, LifetimeForm, lifetimeSummary } from './image-lifetime.tsx'

const EXPIRIES = [
  [3600, '1 hour'],
  [86400, '1 day'],
  [7 * 86400, '7 days'],
  [30 * 86400, '30 days'],
] as const

/** The API's shortest and longest signed links (modules/view/model.ts); one asked for longer than the image lasts ends with it. */
const SHORTEST_LINK_S = 60
const LONGEST_LINK_S = 30 * 86400

/**
 * The signed link's choices: a link never outlives its image, so for one that ends sooner than
 * a choice, that choice is replaced by one that says when the link will in fact stop working.
 */
function linkChoices(expiresAt: number | null, now: number): (readonly [number, string])[] {
  if (expiresAt === null) return [...EXPIRIES]
  const secondsLeft = Math.floor((expiresAt - now) / 1000)
  const sooner = EXPIRIES.filter(([seconds]) => seconds < secondsLeft)
  if (sooner.length === EXPIRIES.length) return [...EXPIRIES]
  const untilEnd = Math.min(Math.max(secondsLeft, SHORTEST_LINK_S), LONGEST_LINK_S)
  return [...sooner, [untilEnd, `Until the image ends (${formatDate(new Date(expiresAt))})`]]
}

/**
 * The image's views, as the line under it says them. Its count is of people only (bots are kept
 * apart in the statistics), but a bot spends a view of a self-destructing image as anyone else
 * does: "0 views · 2 of 5 views left" read as views lost. Bots, when there are any, are named beside.
 */
const viewsInWords = (people: number, bots: number) => (bots > 0 ? `${counted(people, 'view')} by people, ${bots} by bots` : counted(people, 'view'))

/** Where a message shows: beside the form it is about, or at the top of the side column. One shows at a time. */
type Part = 'page' | 'details' | 'lifetime'

/** The API's refusals of the expiry, as the form labels its field. */
const LIFETIME_WORDS: FormWords = { codes: { invalid_expires_at: labelled('Expiry date and time', 'expires_at') } }

export function ImagePage({ id }: { id: string }) {
  const { api } = useSession()
  // `field`: the id of the field a refusal is about, which it marks invalid and describes.
  const [status, setStatus] = useState<{ part: Part; error?: string; message?: string; field?: string }>({ part: 'page' })
  // A refusal about a field takes the focus there, off the Save button.
  const refocusRefused = useRefocus(status)
  const statusOf = (part: Part) => (status.part === part ? status : {})
  const [signed, setSigned] = useState<{ url: string; expires_at: string } | null>(null)
  const loaded = useLoad(async () => (await api.remote<{ image: ImageWithLifetime }>('upload', 'GET', `/images/${encodeURIComponent(id)}`)).data.image, [id])
  const bandwidth = useBandwidthLimit()
  const stats = useLoad(async () => (await api.remote<ViewStats>('view', 'GET', `/stats/${encodeURIComponent(id)}`)).data, [id])
  const [image, setImage] = useState<ImageWithLifetime | null>(null)
  const shown = image ?? loaded.data
  // A saved form is re-created from the answer (keyed below), and its button with it: the focus goes to the new one.
  const refocus = useRefocus(image)
  // Why the image ended while the page was open: its end passed, or the server answered 410 (its views used up).
  const [ended, setEnded] = useState<string | null>(null)
  const expiresAt = shown?.expires_at ? Date.parse(shown.expires_at) : null
  useEffect(() => {
    if (expiresAt === null) return
    // However far off: an image set to end in 30 days, its page left open, still ends on the day.
    return atInstant(expiresAt, () => setEnded(`This image expired on ${formatDate(new Date(expiresAt))}; it is being deleted.`))
  }, [expiresAt])

  if (loaded.error || ended) {
    // Only the server's word that there is no such image says so: a 500, a 429 or a proxy's 502
    // must not make an image look deleted, and one that failed to load can be asked for again.
    const gone = ended || loaded.errorCode === 'image_expired' ? 'Image ended' : loaded.errorCode === 'image_not_found' ? 'Image not found' : null
    // Keyed: shown in place of an open page, its heading is new and takes the focus, as on a reload.
    return (
      <section key="ended">
        <PageTitle>{gone ?? 'Image could not be loaded'}</PageTitle>
        {/* No Try again for the server's 404 or 410, nor once the image has ended here. */}
        <Status error={ended ?? loaded.error} retry={ended ? undefined : loaded} />
        <Link href="/gallery">All images</Link>
      </section>
    )
  }
  if (!shown) return <p aria-live="polite">Loading…</p>
  const name = shown.title || shown.original_name || shown.filename

  const save = async (changes: Record<string, unknown>, message?: string, part: Part = 'page') => {
    try {
      const answer = await api.remote<{ image: ImageWithLifetime }>('upload', 'PATCH', `/images/${shown.id}`, changes)
      if (part !== 'page') refocus(() => document.querySelector<HTMLElement>(`.${part}-form button[type="submit"]`))
      setImage(answer.data.image)
      setStatus({ part, message: message ?? (answer.data.image.is_public ? 'The image is public.' : 'The image is private: only you and signed links can see it.') })
    } catch (e) {
      if (e instanceof ApiError && e.code === 'image_expired') setEnded(messageOf(e))
      else refuseIn(part)(messageOf(e, part === 'lifetime' ? LIFETIME_WORDS : undefined), e instanceof ApiError && e.code === 'invalid_expires_at' ? EXPIRES_AT_FIELD : undefined)
    }
  }
  const refuseIn = (part: Part) => (error: string, field?: string) => {
    if (field) refocusRefused(() => document.getElementById(field), { fromHere: true })
    setStatus({ part, error, field })
  }
  const edit = (changes: { is_public: boolean }) => save(changes)
  const ends = lifetimeSummary(shown)
  const hidden = shown.hidden_by_moderation
  const sign = async (event: Event) => {
    const expires_in = Number(new FormData(event.currentTarget as HTMLFormElement).get('expires_in'))
    try {
      setSigned((await api.remote('view', 'POST', `/api/v1/images/${shown.id}/signed-url`, { expires_in })).data)
    } catch (e) {
      setStatus({ part: 'page', error: messageOf(e) })
    }
  }
  const remove = async () => {
    if (!confirm(`Delete ${name}? This cannot be undone.`)) return
    try {
      await api.remote('upload', 'DELETE', `/images/${shown.id}`)
      // Replaces the entry: Back must not return to the page of an image that is gone.
      navigate('/gallery', true, 'Image deleted.')
    } catch (e) {
      setStatus({ part: 'page', error: messageOf(e) })
    }
  }
  // The signed-link form is further down the same column: the note's link takes the focus there.
  const toSignedLink = (event: MouseEvent) => {
    event.preventDefault()
    document.getElementById('expires-in')?.focus()
  }
  const snippets: [string, string][] = [
    ['Link', shown.url],
    ['HTML', `<img src="${shown.url}" alt="${name.replace(/"/g, '&quot;')}">`],
    ['Markdown', `![${name.replace(/[[\]]/g, '')}](${shown.url})`],
    ['BBCode', `[img]${shown.url}[/img]`],
  ]
  return (
    <section class="image-page">
      <PageTitle>{name}</PageTitle>
      <BandwidthLimitNotice state={bandwidth} />
      {hidden ? (
        <p class="warning">
          <ModerationBadge /> After reports, nobody is shown this image, and its links answer “not found”, until an administrator reviews it.
        </p>
      ) : null}
      <div class="image-layout">
        <div class="image-view">
          {/* The view server answers 404 for a hidden image, to its owner too. */}
          {hidden ? <span class="thumb-holder" /> : <Thumb src={`${shown.view_url}?size=medium`} image={shown} asOwner={bandwidth?.bandwidth_limit_reached === true} alt={name} size={1024} class="full" />}
          <p class="muted">
            {shown.metadata.width}×{shown.metadata.height} · {formatBytes(shown.metadata.size)} · {shown.metadata.format.toUpperCase()} · uploaded {formatDate(shown.uploaded_at)} · {viewsInWords(shown.views, stats.data?.views.bot.total ?? 0)}
          </p>
          {shown.description ? <p class="image-description">{shown.description}</p> : null}
          {ends ? <p class="lifetime-badge" data-testid="lifetime-badge">{ends}</p> : null}
        </div>
        <div class="image-side">
          <Status {...statusOf('page')} />
          <h2>Share</h2>
          {hidden ? (
            <p class="muted">No links to share while the image is hidden: each would answer “not found”.</p>
          ) : (
            <>
            {shown.is_public ? null : (
              <p class="warning" data-testid="private-share-note">
                Private: these links work only for you. <a href="#expires-in" onClick={toSignedLink}>Make a signed link</a> to share it.
              </p>
            )}
            <dl class="snippets">
              {snippets.map(([label, text]) => (
                <div class="snippet">
                  <dt>{label}</dt>
                  <dd>
                    <input readOnly value={text} aria-label={`${label} for this image`} />
                    <CopyButton text={text} what={label} />
                  </dd>
                </div>
              ))}
            </dl>
            </>
          )}
          <label class="check switch">
            <input type="checkbox" role="switch" checked={shown.is_public} onChange={(event) => edit({ is_public: (event.currentTarget as HTMLInputElement).checked })} />
            Public
          </label>
          {/* Keyed by the saved values, so the forms start from what the server answered. */}
          {/* Their messages stay outside them, so a re-created form does not take its live region along. */}
          <DetailsForm key={`${shown.title}|${shown.description}`} image={shown} save={(changes, message) => save(changes, message, 'details')} refuse={(error) => setStatus({ part: 'details', error })} />
          <Status {...statusOf('details')} />
          <h2>Expiry</h2>
          <LifetimeForm key={`${shown.expires_at}|${shown.max_views}|${shown.views_left}`} image={shown} save={(changes, message) => save(changes, message, 'lifetime')} refuse={refuseIn('lifetime')}
            expiryErrorId={status.part === 'lifetime' && status.error && status.field === EXPIRES_AT_FIELD ? 'lifetime-error' : undefined}
            onExpiryChange={() => status.part === 'lifetime' && status.error && setStatus({ part: 'lifetime' })} />
          <Status {...statusOf('lifetime')} errorId="lifetime-error" />
          <h2>Signed link</h2>
          {hidden ? (
            <p class="muted">Signed links are not served either while the image is hidden.</p>
          ) : (
            <>
              <Form class="inline" onSubmit={sign}>
                <label for="expires-in">Works for</label>
                <select id="expires-in" name="expires_in">
                  {linkChoices(expiresAt, Date.now()).map(([seconds, label]) => <option value={seconds}>{label}</option>)}
                </select>
                <SubmitButton class="secondary">Create signed link</SubmitButton>
              </Form>
              {signed ? (
                <div class="snippet">
                  <input readOnly value={signed.url} aria-label="Signed link" />
                  <CopyButton text={signed.url} what="signed link" />
                  <p class="muted small">Expires {formatDate(signed.expires_at)}.</p>
                </div>
              ) : null}
            </>
          )}
          <h2>Danger zone</h2>
          <ActionButton class="danger" onClick={remove}>Delete image</ActionButton>
        </div>
      </div>
      <h2>Views</h2>
      <Status error={stats.error} retry={stats} />
      {stats.data ? <ViewsReport stats={stats.data} chartTitle="Views per day, last 30 days" /> : null}
    </section>
  )
}
