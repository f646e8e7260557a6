import { useState } from 'preact/hooks'
import { Form, SubmitButton } from '../forms.tsx'
import { formatDate } from '../ui.tsx'
import type { UploadChoices } from '../upload-queue.ts'
import type { OwnImage } from './gallery.tsx'

/**
 * Issue 14 on the image page and the upload panel: a description, when the image expires, and
 * after how many views it destroys itself. The server checks every value (400 with a message);
 * these forms only offer sensible choices.
 */

/** What GET /images/{id} adds to the gallery's image (issue 14). */
export interface ImageLifetime {
  description?: string | null
  expires_at?: string | null
  max_views?: number | null
  views_left?: number | null
}

export type ImageWithLifetime = OwnImage & ImageLifetime

/** The durations the server takes as expires_in. */
export const EXPIRY_CHOICES = [
  ['1h', '1 hour'],
  ['1d', '1 day'],
  ['7d', '7 days'],
  ['30d', '30 days'],
] as const

/** "Expires …, 3 of 10 views left": the image's end in words, or null when it has none. */
export function lifetimeSummary(image: ImageLifetime): string | null {
  const parts = [
    image.expires_at ? `Expires ${formatDate(image.expires_at)}` : null,
    image.max_views != null ? `${image.views_left ?? 0} of ${image.max_views} views left` : null,
  ].filter(Boolean)
  return parts.length ? parts.join(' · ') : null
}

interface EditProps {
  image: ImageWithLifetime
  /** PATCH /images/{id} with these changes; resolves once the page shows the answer. */
  save(changes: Record<string, unknown>, message: string): Promise<void>
  /** Says why nothing was sent, where the page shows this form's messages (one at a time); `field`: the id of the field at fault. */
  refuse(error: string, field?: string): void
  /** The id of the element saying what is wrong with the expiry date field, while something is. */
  expiryErrorId?: string
  /** The expiry chosen changed: what was said of the choice before no longer holds. */
  onExpiryChange?(): void
}

/** The expiry date field's id, which a refusal of it names (the page ties the refusal to it). */
export const EXPIRES_AT_FIELD = 'image-expires-at'
/** How far ahead an expiry may be (src/images/lifetime-duration.ts MAX_LIFETIME_MS, 365 days). */
const MAX_LIFETIME_MS = 365 * 86_400_000

/** Title and description, saved together. */
export function DetailsForm({ image, save }: EditProps) {
  const submit = (event: Event) => {
    const form = new FormData(event.currentTarget as HTMLFormElement)
    return save({ title: String(form.get('title') ?? '') || null, description: String(form.get('description') ?? '') || null }, 'Saved.')
  }
  return (
    <Form class="details-form" draft="details" onSubmit={submit}>
      <div class="field">
        <label for="image-title">Title</label>
        <input id="image-title" name="title" defaultValue={image.title ?? ''} maxLength={200} />
      </div>
      <div class="field">
        <label for="image-description">Description</label>
        <textarea id="image-description" name="description" rows={3} maxLength={2000} defaultValue={image.description ?? ''} />
      </div>
      <SubmitButton class="secondary">Save title and description</SubmitButton>
    </Form>
  )
}

/** `<input type="datetime-local">` wants local time without a zone. */
const localInputValue = (date: Date) => new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16)

/** Expiry (never, a duration, or a date) and the view limit, with what is left of them. */
export function LifetimeForm({ image, save, refuse, expiryErrorId, onExpiryChange }: EditProps) {
  const [expiry, setExpiry] = useState<string>(image.expires_at ? 'keep' : 'never')
  const summary = lifetimeSummary(image)

  const submit = (event: Event) => {
    const form = new FormData(event.currentTarget as HTMLFormElement)
    const changes: Record<string, unknown> = {}
    if (expiry === 'never' && image.expires_at) changes.expires_at = null
    else if (expiry === 'custom') {
      const at = new Date(String(form.get('expires_at') ?? ''))
      if (Number.isNaN(at.getTime())) return refuse('Choose the date and time it should expire.', EXPIRES_AT_FIELD)
      changes.expires_at = at.toISOString()
    } else if (expiry !== 'keep' && expiry !== 'never') changes.expires_in = expiry
    const views = String(form.get('max_views') ?? '').trim()
    const maxViews = views === '' ? null : Number(views)
    // The same limit again would start the count afresh: only a change is sent.
    if (maxViews !== (image.max_views ?? null)) changes.max_views = maxViews
    if (Object.keys(changes).length === 0) return refuse('Nothing to change.')
    return save(changes, 'Expiry and view limit saved.')
  }

  return (
    <Form class="lifetime-form" draft="lifetime" onSubmit={submit} aria-describedby="lifetime-summary">
      <p id="lifetime-summary" class="muted" data-testid="lifetime-summary">
        {summary ?? 'Never expires, no view limit.'}
      </p>
      <div class="field">
        <label for="image-expiry">Expires</label>
        <select id="image-expiry" name="expiry" value={expiry} onChange={(e) => {
          setExpiry((e.currentTarget as HTMLSelectElement).value)
          onExpiryChange?.()
        }}>
          {image.expires_at ? <option value="keep">Keep: {formatDate(image.expires_at)}</option> : null}
          <option value="never">Never</option>
          {EXPIRY_CHOICES.map(([value, label]) => (
            <option value={value}>In {label}</option>
          ))}
          <option value="custom">On a date…</option>
        </select>
      </div>
      {expiry === 'custom' ? (
        <div class="field">
          <label for="image-expires-at">Expiry date and time</label>
          {/* `max`: the browser refuses a date past the server's bound before anything is sent. */}
          <input id={EXPIRES_AT_FIELD} name="expires_at" type="datetime-local" min={localInputValue(new Date())} max={localInputValue(new Date(Date.now() + MAX_LIFETIME_MS))} required aria-invalid={expiryErrorId ? true : undefined} aria-describedby={expiryErrorId} />
        </div>
      ) : null}
      <div class="field">
        <label for="image-max-views">Self-destruct after (views)</label>
        <input id="image-max-views" name="max_views" type="number" min={1} max={1000000} step={1} inputMode="numeric" placeholder="No limit" defaultValue={image.max_views != null ? String(image.max_views) : ''} aria-describedby="image-max-views-hint" />
        <small id="image-max-views-hint">Every view by someone else spends one, bots and crawlers included; yours and link previews do not. A new limit starts the count afresh.</small>
      </div>
      <SubmitButton class="secondary">Save expiry and view limit</SubmitButton>
    </Form>
  )
}

/** The server's bounds for a view limit (modules/upload/lifetime.ts, MAX_VIEWS_LIMIT). */
const MAX_VIEWS = 1_000_000
export const MAX_VIEWS_RULE = `Self-destruct after N views: a whole number from 1 to ${MAX_VIEWS.toLocaleString('en')}.`

/** The view limit typed, as the field POST /upload takes; `error` when it is none the server would take. */
function viewLimitOf(input: HTMLInputElement): { value?: string; error?: string } {
  // A number the browser cannot read ("1e", "--1") has an empty value: not "no limit".
  if (input.validity.badInput) return { error: MAX_VIEWS_RULE }
  const typed = input.value.trim()
  if (!typed) return {}
  const views = Number(typed)
  return Number.isInteger(views) && views >= 1 && views <= MAX_VIEWS ? { value: String(views) } : { error: MAX_VIEWS_RULE }
}

/**
 * The upload panel's expiry and view limit, as the upload queue keeps them (upload-queue.ts), so
 * they are as the person left them on return. A view limit the server would not take carries its
 * `error`: the queue holds its files until it may send them.
 */
export function UploadLifetimeChoices({ value, onChange }: { value: Pick<UploadChoices, 'expiresIn' | 'maxViews'>; onChange(next: Pick<UploadChoices, 'expiresIn' | 'maxViews'>): void }) {
  const { expiresIn, maxViews } = value
  return (
    <div class="upload-lifetime">
      <div class="field">
        <label for="upload-expiry">Expire in</label>
        <select id="upload-expiry" value={expiresIn} onChange={(e) => onChange({ expiresIn: (e.currentTarget as HTMLSelectElement).value, maxViews })}>
          <option value="">Never</option>
          {EXPIRY_CHOICES.map(([value, label]) => (
            <option value={value}>{label}</option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="upload-max-views">Self-destruct after N views</label>
        <input
          id="upload-max-views"
          type="number"
          min={1}
          max={MAX_VIEWS}
          step={1}
          inputMode="numeric"
          placeholder="Never"
          value={maxViews.typed}
          aria-invalid={maxViews.error ? true : undefined}
          aria-describedby={maxViews.error ? 'upload-max-views-error' : undefined}
          onInput={(e) => {
            const input = e.currentTarget as HTMLInputElement
            onChange({ expiresIn, maxViews: { typed: input.value, ...viewLimitOf(input) } })
          }}
        />
        {maxViews.error ? <p id="upload-max-views-error" class="error" role="alert">{maxViews.error}</p> : null}
      </div>
    </div>
  )
}
