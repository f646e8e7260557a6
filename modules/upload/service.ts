import { join } from 'node:path'
import type { Principal, UserRow } from '#core/auth/principal.ts'
import { requireScope } from '#core/auth/scopes.ts'
import type { AppContext } from '#core/context.ts'
import { isUniqueViolation } from '#core/db/errors.ts'
import { publishEvent } from '#core/events/index.ts'
import { AppError, BadRequest, Conflict } from '#core/errors.ts'
import { ensureDiskHeadroom } from '#core/storage/disk.ts'
import { unlessCut } from '#core/http/body-limit.ts'
import { type MultipartUpload, type ReceivedFile, receiveMultipart } from '#core/http/multipart.ts'
import { newImageId } from '#core/images/ids.ts'
import { EXTENSION } from '#core/images/keys.ts'
import { type Logger, withFields } from '#core/logger.ts'
import type { ImageRow } from '#core/images/types.ts'
import { BIDI_CONTROLS, DEL_AND_C1 } from '#core/text/user-text.ts'
import { ImageObjects } from './objects.ts'
import { ownImage } from './present.ts'
import { notifyStorageThresholds } from './quota-mail.ts'
import type { ProcessedImage } from '#core/media/types.ts'
import { dailyUploadLimit, storageLimit, storageQuotaExceeded, uploadLimitReached, usageDay } from './quota.ts'
import { changeOwnImage } from './edit.ts'
import { deleteEndedImages } from './expiry.ts'
import { DESCRIPTION_MAX_LENGTH, imageText } from './image-text.ts'
import { isGone, type LifetimeChanges, lifetimeFromText, parseLifetime } from './lifetime.ts'
import * as repo from './repo.ts'

export const uploadTmpDir = (ctx: AppContext) => join(ctx.config.dataDir, 'tmp')

const NAME_MAX_LENGTH = 255

export interface UploadResult {
  /** False when the same bytes were already stored for this user: `image` is that one. */
  created: boolean
  image: ImageRow
  /**
   * Whether the answer may carry the image's delete capability (deletion_url, Imgur's
   * deletehash): always for a new image, and for bytes already stored only to a caller who may
   * delete that image anyway (`images:write`; a session has every scope). Otherwise an
   * upload-only key could delete any image of its account: download it from the view server,
   * upload the bytes again, and be handed the link.
   */
  withDeleteLink: boolean
  /** Bytes of the uploaded file. */
  receivedBytes: number
}

/** POST /upload: the multipart body's field "file". */
export const uploadImage = (ctx: AppContext, principal: Principal, request: Request, requestId: string | undefined): Promise<UploadResult> =>
  uploadReceived(ctx, principal, async () => {
    const upload = await receiveMultipart(request, {
      tmpDir: uploadTmpDir(ctx),
      fileField: 'file',
      maxFileBytes: ctx.config.maxUploadBytes,
      // The description's limit is in UTF-16 units; in UTF-8 each is at most 3 bytes (漢 is 3), and
      // busboy marks a field cut as soon as it reaches its size: room to spare, the service counts.
      maxFieldBytes: 4 * DESCRIPTION_MAX_LENGTH,
      stallSeconds: ctx.config.bodyTimeoutSeconds,
      cut: ctx.requestsCut,
      holdInMemory: (bytes) => ctx.media.holdUpload(bytes),
    })
    if (!upload.file) {
      await upload.discard()
      throw new BadRequest('Send the image in a multipart field named "file"', 'file_required')
    }
    // For clients that cannot send fields (a ShareX URL, curl --data-binary scripts): ?is_public=false, ?expires_in=1d.
    return { ...upload, fields: { ...queryFields(request.url, [...LIFETIME_FIELDS, ...IMAGE_FIELDS]), ...upload.fields } }
  }, { requestId, declaredBytes: Number(request.headers.get('content-length')) || undefined })

const LIFETIME_FIELDS = ['expires_in', 'expires_at', 'max_views']
/** POST /upload's own fields; the compatible APIs name theirs differently. */
const IMAGE_FIELDS = ['is_public', 'title', 'description']

/** The given fields from a query string; the form's own fields win over them. */
function queryFields(url: string, names: readonly string[]): Record<string, string> {
  const query = new URL(url).searchParams
  return Object.fromEntries(names.flatMap((name) => (query.get(name) ? [[name, query.get(name)!]] : [])))
}

/**
 * The lifetime settings of an upload through a compatible API: form fields, or the query for
 * clients that cannot send fields; the form wins, as on POST /upload.
 */
export const lifetimeFields = (url: string, form: Record<string, string>) => ({
  ...queryFields(url, LIFETIME_FIELDS),
  ...Object.fromEntries(LIFETIME_FIELDS.flatMap((name) => (form[name] ? [[name, form[name]]] : []))),
})

/**
 * Every upload, native or through a compatible API (modules/upload/compat), counted in the
 * metrics: stored uploads by bytes and time, refusals by error code. `receive` reads the body to
 * a temp file; it runs after the early quota check, so a spent quota costs no body read.
 * `declaredBytes` (the request's Content-Length, when known) sizes the free-disk check;
 * `requestId` (requestIdOf) goes on the lines the upload's storage writes.
 */
export async function uploadReceived(
  ctx: AppContext,
  principal: Principal,
  receive: () => Promise<MultipartUpload>,
  { requestId, declaredBytes = ctx.config.maxUploadBytes }: { requestId: string | undefined; declaredBytes?: number },
): Promise<UploadResult> {
  const started = performance.now()
  const log = requestId ? withFields(ctx.log, { request_id: requestId }) : ctx.log
  try {
    const result = await receiveAndStore(ctx, log, principal, receive, declaredBytes)
    if (result.created) ctx.metrics.uploadProcessed(result.receivedBytes, (performance.now() - started) / 1000)
    return result
  } catch (error) {
    ctx.metrics.uploadRejected(error instanceof AppError ? error.code : 'internal_error')
    throw error
  }
}

/**
 * The upload, top to bottom:
 * 1. refuse at once when a quota is already used up, before reading a byte of the body;
 * 2. stream the body to a temp file (413 past MAX_UPLOAD_BYTES);
 * 3. validate the form; the same bytes again return the image already stored;
 * 4. process (probe, limits, orient, strip, variants) in the media pool, storing each object
 *    as soon as it is ready, so the writes overlap the encodes still running;
 * 5. once every object is stored, commit the row and both quota counters in one transaction.
 * Whatever fails, the objects written so far and every temp file are removed, and usage is
 * unchanged: the quota counters only move in the transaction that records the image.
 */
async function receiveAndStore(ctx: AppContext, log: Logger, principal: Principal, receive: () => Promise<MultipartUpload>, declaredBytes: number): Promise<UploadResult> {
  const user = principal.user
  // 507 before a byte is read when the upload could leave DATA_DIR too full for the database.
  // Nothing past MAX_UPLOAD_BYTES is kept, whatever the length declared: a larger one is the
  // client's mistake, answered by the receive's 413, not the server's lack of room.
  ensureDiskHeadroom(ctx.config.dataDir, ctx.config.minFreeDiskBytes, Math.min(declaredBytes, ctx.config.maxUploadBytes))
  await refuseWhenQuotaUsedUp(ctx, user)
  const upload = await receive()
  // Until processing and every put have settled without a failure, something may still read the
  // held bytes (a put abandoned at its deadline keeps sending them): only then may they be reused.
  let bytesSettled = true
  try {
    const file = upload.file
    if (!file) throw new BadRequest('The request carries no image', 'file_required')
    if (file.size === 0) throw new BadRequest('The file is empty', 'empty_file')
    const form = readFormFields(upload.fields, user, ctx.clock.now())

    const mayDelete = principal.scopes.includes('images:write')
    const existing = await sameBytesUploaded(ctx, principal, file.sha256, form)
    if (existing) return { created: false, image: existing, withDeleteLink: mayDelete, receivedBytes: file.size }

    const objects = new ImageObjects(ctx, newImageId(), log)
    bytesSettled = false
    const processed = await processAndStore(ctx, file, objects)
    const stored = await storeAndRecord(ctx, principal, file, form, processed, objects)
    bytesSettled = true
    return { ...stored, withDeleteLink: stored.created || mayDelete, receivedBytes: file.size }
  } finally {
    await upload.discard({ reuseMemory: bytesSettled })
  }
}

/** What the row needs of a processed image; the encoded bytes are left to the puts. */
type ProcessedSummary = Omit<ProcessedImage, 'variants'>

/**
 * Processes the upload, storing each object as soon as it is ready. Only the summary comes back:
 * each object's bytes are then held by its put alone and go once written, rather than staying
 * in memory until the row is committed (which, with many uploads queued on the database, added
 * up to hundreds of MB in the bomb mix of scripts/bench-upload.ts).
 */
async function processAndStore(ctx: AppContext, file: ReceivedFile, objects: ImageObjects): Promise<ProcessedSummary> {
  try {
    const processing = ctx.media.process(file.bytes ?? file.path, { onVariant: (variant) => objects.store(variant) })
    // A job queued or running at the shutdown deadline is answered, not left to the connection's
    // close; whatever it finishes afterwards is stored nowhere (removeAll below).
    const { variants, ...summary } = await unlessCut(processing, ctx.requestsCut, 'The server shut down before the image was processed; send it again in a moment')
    objects.storeAll(variants)
    return summary
  } catch (error) {
    await objects.removeAll()
    throw error
  }
}

/** A cheap early answer; the conditional updates at commit are what really enforce the quotas. */
async function refuseWhenQuotaUsedUp(ctx: AppContext, user: UserRow) {
  const now = ctx.clock.now()
  const limit = dailyUploadLimit(user.plan_type, user.upload_limit_per_day)
  const uploadsToday = await repo.uploadsOn(ctx.sql, user.id, usageDay(now).day)
  if (uploadsToday >= limit) throw uploadLimitReached(limit, uploadsToday, now)
  if (user.storage_used >= storageLimit(user.plan_type)) {
    throw storageQuotaExceeded(user.plan_type, user.storage_used, 0, { limit, used: uploadsToday }, now)
  }
}

interface FormFields {
  isPublic: boolean
  title: string | null
  description: string | null
  expiresAt: Date | null
  maxViews: number | null
}

function readFormFields(fields: Record<string, string>, user: UserRow, now: Date): FormFields {
  const title = imageText('title', fields.title) ?? null
  const description = imageText('description', fields.description) ?? null
  const lifetime = parseLifetime(lifetimeFromText(fields), now)
  return {
    isPublic: parseBooleanField('is_public', fields.is_public, user.default_is_public),
    title,
    description,
    expiresAt: lifetime.expiresAt ?? null,
    maxViews: lifetime.maxViews ?? null,
  }
}

/**
 * The same bytes again answer the image already stored. Not when that one has ended (expired or
 * its views spent): it is deleted now and the upload stored afresh, or the answer would be a dead
 * link. See answerSameBytes for the rest.
 */
async function sameBytesUploaded(ctx: AppContext, principal: Principal, sha256: string, form: FormFields): Promise<ImageRow | undefined> {
  const existing = await repo.findImageBySha256(ctx.sql, principal.user.id, sha256)
  if (!existing) return undefined
  if (isGone(existing, ctx.clock.now())) {
    await deleteEndedImages(ctx, [existing.id])
    return undefined
  }
  return answerSameBytes(ctx, principal, existing, form)
}

/**
 * What an upload of bytes already stored (and not ended) answers:
 * - the image hidden by moderation is refused, 409 image_hidden: its links are 404 to everyone
 *   until an administrator reviews it, so answering it would hand out a dead link;
 * - another visibility, title or description is refused, 409 duplicate_image: the stored image
 *   would stay public when a private one was asked for, or keep its old words unseen;
 * - an end asked for an image stored with one renews it: it takes the end now asked, through
 *   PATCH's own path (an expiring ShareX config or ?expires_in= preset sends its end with every
 *   upload, and cannot PATCH); asked for an image stored without one, 409 duplicate_image, since
 *   an upload must not silently shorten a permanent image. A renewal that changes anything is an
 *   edit, and takes what PATCH takes: `images:write` (403 insufficient_scope, nothing changed),
 *   or an upload-only key could cut short any image of its account by sending its bytes again
 *   with ?max_views=1;
 * - otherwise the stored image as it is.
 */
async function answerSameBytes(ctx: AppContext, principal: Principal, existing: ImageRow, form: FormFields): Promise<ImageRow> {
  if (existing.hidden_at !== null) throw imageHidden(existing.id)
  refuseIfAskedOtherwise(existing, form)
  const renewal = renewalOf(existing, form)
  if (!renewal) return existing
  requireScope(principal, 'images:write', `to change the end or view limit of ${existing.id}, which these bytes already are (sent without expires_in, expires_at or max_views, they answer it as it is)`)
  const renewed = await changeOwnImage(ctx, existing, renewal, { onlyWhileShown: true })
  if (renewed) return renewed
  // Hidden by moderation, ended or deleted between the read and the write (a report's auto-hide,
  // its last view spent, its owner, the expiry job): the answer would be a dead link.
  const now = await repo.findOwnImage(ctx.sql, existing.user_id, existing.id)
  if (now && now.hidden_at !== null) throw imageHidden(existing.id)
  // No link to give: the image it was is gone.
  throw new Conflict(`You uploaded this image before (${existing.id}) and it ended or was deleted meanwhile; send the upload again`, 'duplicate_image')
}

/**
 * What an end asked with bytes already stored would change, or undefined when nothing: only what
 * is asked changes, as with PATCH; a view budget asked counts its views afresh, so it changes
 * the image unless it is the one it has, untouched.
 */
function renewalOf(existing: ImageRow, form: FormFields): LifetimeChanges | undefined {
  const expiresAt = form.expiresAt !== null && (existing.expires_at === null || form.expiresAt.getTime() !== new Date(existing.expires_at).getTime()) ? { expiresAt: form.expiresAt } : {}
  const maxViews = form.maxViews !== null && (form.maxViews !== existing.max_views || existing.views_served > 0) ? { maxViews: form.maxViews } : {}
  const renewal = { ...expiresAt, ...maxViews }
  return Object.keys(renewal).length > 0 ? renewal : undefined
}

/** 409 duplicate_image: the image already stored is named in `details` too, so a client can link to it without reading the message. */
const duplicateImage = (id: string, message: string) =>
  new Conflict(message, 'duplicate_image', [{ field: 'image', message: 'the image these bytes already are', value: id }])

const imageHidden = (id: string) =>
  new Conflict(`You uploaded this image before (${id}) and it is hidden after reports while an administrator reviews it`, 'image_hidden')

function refuseIfAskedOtherwise(existing: ImageRow, form: FormFields) {
  const asksForEnd = form.expiresAt !== null || form.maxViews !== null
  if (asksForEnd && existing.expires_at === null && existing.max_views === null) {
    throw duplicateImage(existing.id, `You uploaded this image before (${existing.id}) without an expiry or view limit; to give it one, use PATCH /images/${existing.id}`)
  }
  if (form.isPublic !== existing.is_public) {
    const [is, asked] = existing.is_public ? ['public', 'private'] : ['private', 'public']
    throw duplicateImage(existing.id, `You uploaded this image before (${existing.id}) and it is ${is}; to make it ${asked}, use PATCH /images/${existing.id} with is_public`)
  }
  // Not sent asks for nothing; sent and different would be dropped unseen.
  const changed = [form.title !== null && form.title !== existing.title ? 'title' : '', form.description !== null && form.description !== existing.description ? 'description' : ''].filter(Boolean)
  if (changed.length > 0) {
    throw duplicateImage(existing.id, `You uploaded this image before (${existing.id}) with another ${changed.join(' and ')}; to change it, use PATCH /images/${existing.id}`)
  }
}

function parseBooleanField(name: string, value: string | undefined, fallback: boolean): boolean {
  const normalised = value?.trim().toLowerCase()
  if (!normalised) return fallback
  if (['true', '1', 'yes', 'on'].includes(normalised)) return true
  if (['false', '0', 'no', 'off'].includes(normalised)) return false
  throw new BadRequest(`${name} must be true or false`, `invalid_${name}`)
}

/** The client's file name is shown back to its owner only; it never becomes a key or a path. */
/** The longest ending kept whole when a long name is cut (`.jpeg`, `.webp`, …). */
const EXTENSION_MAX_LENGTH = 16

/**
 * What is kept of a client's file name: its base name (the Imgur API's `name` field may carry a
 * path), without control characters or the bidirectional ones that disguise an extension
 * ("gnp.\u202Eexe.png" reads as "gnp.gnp.exe"), at most NAME_MAX_LENGTH units with its extension
 * kept when the rest is cut (a download without one opens in nothing). Browsers send `"`, LF and
 * CR in a multipart file name as %22, %0A and %0D (HTML's form encoding): `"` is given back,
 * the line breaks go with the other control characters.
 */
/** Every control a title loses (DEL and C1 too), tab and line breaks, and the bidi marks (ALM, LRM, RLM), which only disguise a name. */
const FILE_NAME_HIDDEN = new RegExp(`[\\u0000-\\u001f${DEL_AND_C1}\\u061c\\u200e\\u200f${BIDI_CONTROLS}]`, 'g')

function displayName(name: string): string | null {
  const base = name
    .replace(/%22/gi, '"')
    .replace(/%0[ad]/gi, '')
    .replace(/^.*[\\/]/, '')
    .replace(FILE_NAME_HIDDEN, '')
  if (base.length <= NAME_MAX_LENGTH) return base || null
  const dot = base.lastIndexOf('.')
  const extension = dot > 0 && base.length - dot <= EXTENSION_MAX_LENGTH ? base.slice(dot) : ''
  return withinLength(base.slice(0, base.length - extension.length), NAME_MAX_LENGTH - extension.length) + extension
}

/** At most `max` UTF-16 units, never half of a surrogate pair (a cut emoji would be stored as U+FFFD). */
export function withinLength(text: string, max: number): string {
  if (text.length <= max) return text
  const last = text.charCodeAt(max - 1)
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max)
}

async function storeAndRecord(
  ctx: AppContext,
  principal: Principal,
  file: ReceivedFile,
  form: FormFields,
  processed: ProcessedSummary,
  objects: ImageObjects,
): Promise<Pick<UploadResult, 'created' | 'image'>> {
  const user = principal.user
  const id = objects.imageId
  let committed: Awaited<ReturnType<typeof commitImage>>
  try {
    // Each put is durable when it resolves (src/storage): the row is written only once all are.
    const variants = await objects.stored()
    const original = variants.find((v) => v.name === 'original' && v.format === processed.format)!
    committed = await commitImage(ctx, user, {
      id,
      user_id: user.id,
      filename: `${id}.${EXTENSION[processed.format]}`,
      original_name: displayName(file.filename),
      title: form.title,
      description: form.description,
      expires_at: form.expiresAt,
      max_views: form.maxViews,
      b2_file_name: original.key,
      mime_type: original.content_type,
      format: processed.format,
      source_format: processed.sourceFormat,
      file_size: original.size,
      stored_bytes: variants.reduce((sum, v) => sum + v.size, 0),
      width: processed.width,
      height: processed.height,
      pages: processed.pages,
      sha256: file.sha256,
      variants,
      is_public: form.isPublic,
      // Millisecond precision, like the JS Date that list cursors carry.
      uploaded_at: ctx.clock.now(),
    })
  } catch (error) {
    await objects.removeAll()
    // Two identical uploads raced past the duplicate check: the loser answers with the winner.
    if (isDuplicateImage(error)) {
      const winner = await repo.findImageBySha256(ctx.sql, user.id, file.sha256)
      if (winner) return { created: false, image: await answerSameBytes(ctx, principal, winner, form) }
    }
    throw error
  }
  const { image, storage } = committed
  await notifyStorageThresholds(ctx, user.id, storage.used - image.stored_bytes, storage.used, storage.limit, storage.warnedPercent)
  return { created: true, image }
}

/** The row and both quota counters move together or not at all. */
async function commitImage(ctx: AppContext, user: UserRow, image: repo.NewImage): Promise<{ image: ImageRow; storage: { used: number; limit: number; warnedPercent: number } }> {
  const now = ctx.clock.now()
  const { day } = usageDay(now)
  return ctx.sql.begin(async (tx) => {
    const recorded = await repo.recordUpload(tx, image, day)
    // Throwing rolls back whatever the statement did before the refusal.
    if (recorded.outcome === 'day_full') throw uploadLimitReached(recorded.dailyLimit, recorded.dailyLimit, now)
    if (recorded.outcome === 'storage_full') {
      const [current, uploadsToday] = await Promise.all([repo.storageOf(tx, user.id), repo.uploadsOn(tx, user.id, day)])
      const dailyLimit = dailyUploadLimit(current.plan_type, current.upload_limit_per_day)
      throw storageQuotaExceeded(current.plan_type, current.storage_used, image.stored_bytes, { limit: dailyLimit, used: uploadsToday }, now)
    }
    const { image: inserted, storage, eventWanted } = recorded
    if (eventWanted) await publishEvent(tx, { type: 'image.uploaded', userId: user.id, data: ownImage(ctx.config, inserted) })
    return { image: inserted, storage: { used: storage.used, limit: storageLimit(storage.plan), warnedPercent: storage.warnedPercent } }
  })
}

const isDuplicateImage = (error: unknown) => isUniqueViolation(error, repo.DUPLICATE_IMAGE_CONSTRAINT)
