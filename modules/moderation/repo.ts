import type { Sql, TransactionSql } from '#core/db/index.ts'
import { imageHasEnded } from '#core/images/repo.ts'
import type { ImageRow } from '#core/images/types.ts'
import type { ReportReason } from './model.ts'

type Db = Sql | TransactionSql

export interface ReportRow {
  id: number
  target_type: string
  target_id: string
  target_owner_id: string | null
  reason: ReportReason
  note: string | null
  reporter_user_id: string | null
  status: 'open' | 'resolved'
  resolution: string | null
  resolved_by: string | null
  resolved_at: Date | null
  created_at: Date
}

const REPORT_FIELDS = ['id', 'target_type', 'target_id', 'target_owner_id', 'reason', 'note', 'reporter_user_id', 'status', 'resolution', 'resolved_by', 'resolved_at', 'created_at'] as const

export type ReportedImage = Pick<ImageRow, 'id' | 'user_id' | 'title' | 'format' | 'variants' | 'b2_file_name' | 'is_public' | 'width' | 'height' | 'stored_bytes'> & {
  hidden_at: Date | null
}

export async function findImage(db: Db, id: string): Promise<ReportedImage | undefined> {
  const [row]: [ReportedImage?] = await db`
    select id, user_id, title, format, variants, b2_file_name, is_public, width, height, stored_bytes, hidden_at
    from images where id = ${id}`
  return row
}

/**
 * The owner of an image an anonymous visitor is shown, else undefined: public, not hidden, its
 * owner not blocked, not ended (imageHasEnded). The view module's findViewableImage decides the
 * same with its own query (modules do not import each other): keep the two in step. `now` is the
 * app clock, as the view server's, so tests that move time see the same answer.
 */
export async function findVisibleImageOwner(db: Db, id: string, now: Date): Promise<string | undefined> {
  const [row]: [{ user_id: string }?] = await db`
    select i.user_id from images i join users u on u.id = i.user_id
    where i.id = ${id} and i.is_public and i.hidden_at is null and not u.is_blocked
      and not ${imageHasEnded(db, now, 'i')}`
  return row?.user_id
}

export async function imagesByIds(db: Db, ids: string[]): Promise<ReportedImage[]> {
  if (ids.length === 0) return []
  return db<ReportedImage[]>`
    select id, user_id, title, format, variants, b2_file_name, is_public, width, height, stored_bytes, hidden_at
    from images where id = any(${ids})`
}

export interface ReportedAlbum {
  id: string
  user_id: string
  title: string
  visibility: string
  hidden_at: Date | null
  image_count: number
}

/**
 * The owner of an album whose share page an anonymous visitor gets, else undefined. Albums are
 * the albums module's tables, read with moderation's own SQL (modules do not import each other);
 * this is its findSharedAlbum rule (modules/albums/repo.ts): keep the two in step. A password
 * does not count: the page then answers its password form, which already shows the album exists.
 */
export async function findVisibleAlbumOwner(db: Db, id: string, now: Date): Promise<string | undefined> {
  const [row]: [{ user_id: string }?] = await db`
    select a.user_id from albums a join users u on u.id = a.user_id
    where a.id = ${id} and a.visibility <> 'private' and (a.expires_at is null or a.expires_at > ${now}) and a.hidden_at is null and not u.is_blocked`
  return row?.user_id
}

export async function albumsByIds(db: Db, ids: string[]): Promise<ReportedAlbum[]> {
  if (ids.length === 0) return []
  return db<ReportedAlbum[]>`
    select a.id, a.user_id, a.title, a.visibility, a.hidden_at, (select count(*)::int from album_images m where m.album_id = a.id) as image_count
    from albums a where a.id = any(${ids})`
}

/** The picture that stands for an album in the queue: its cover, else its first image. */
export async function albumCover(db: Db, albumId: string): Promise<ReportedImage | undefined> {
  const [row]: [ReportedImage?] = await db`
    select i.id, i.user_id, i.title, i.format, i.variants, i.b2_file_name, i.is_public, i.width, i.height, i.stored_bytes, i.hidden_at
    from albums a join images i on i.user_id = a.user_id
    where a.id = ${albumId}
      and (i.id = a.cover_image_id or i.id = (select m.image_id from album_images m where m.album_id = a.id order by m.position limit 1))
    order by i.id = a.cover_image_id desc limit 1`
  return row
}

/** True when this call hid it (it was visible). */
export async function hideAlbum(db: Db, id: string, at: Date): Promise<boolean> {
  return (await db`update albums set hidden_at = ${at} where id = ${id} and hidden_at is null`).count > 0
}

export async function unhideAlbum(db: Db, id: string): Promise<boolean> {
  return (await db`update albums set hidden_at = null where id = ${id} and hidden_at is not null`).count > 0
}

/** The album row only: its membership and view counts go with it (cascade), its images stay. */
export async function deleteAlbumRow(tx: TransactionSql, id: string): Promise<{ id: string; user_id: string } | undefined> {
  const [row]: [{ id: string; user_id: string }?] = await tx`delete from albums where id = ${id} returning id, user_id`
  return row
}

export async function usersByIds(db: Db, ids: string[]) {
  if (ids.length === 0) return []
  return db<{ id: string; username: string; email: string; is_blocked: boolean }[]>`
    select id, username, email, is_blocked from users where id = any(${ids})`
}

export interface NewReport {
  targetType: string
  targetId: string
  targetOwnerId: string | null
  reason: ReportReason
  note: string | null
  reporterKey: string
  /** The signed-in reporter's account; null for an anonymous report. */
  reporterUserId: string | null
  at: Date
}

/** The new report's id, or undefined when this reporter already reported this target. */
export async function insertReport(db: Db, report: NewReport): Promise<number | undefined> {
  const [row]: [{ id: number }?] = await db`
    insert into abuse_reports (target_type, target_id, target_owner_id, reason, note, reporter_key, reporter_user_id, created_at)
    values (${report.targetType}, ${report.targetId}, ${report.targetOwnerId}, ${report.reason}, ${report.note}, ${report.reporterKey}, ${report.reporterUserId}, ${report.at})
    on conflict (target_type, target_id, reporter_key) do nothing
    returning id`
  return row?.id
}

export async function findReportBy(db: Db, targetType: string, targetId: string, reporterKey: string) {
  const [row]: [{ id: number; status: string }?] = await db`
    select id, status from abuse_reports where target_type = ${targetType} and target_id = ${targetId} and reporter_key = ${reporterKey}`
  return row
}

/** Reports are unique per reporter and target, so open reports count distinct reporters. */
export async function openReporterCount(db: Db, targetType: string, targetId: string): Promise<number> {
  const [row] = await db<{ n: number }[]>`
    select count(*)::int as n from abuse_reports where target_type = ${targetType} and target_id = ${targetId} and status = 'open'`
  return row?.n ?? 0
}

/** A bigserial's digits: anything else names no report. */
const REPORT_ID = /^[0-9]{1,18}$/

export async function findReport(db: Db, id: string): Promise<ReportRow | undefined> {
  if (!REPORT_ID.test(id)) return undefined
  const [row]: [ReportRow?] = await db`select ${db(REPORT_FIELDS)} from abuse_reports where id = ${id}`
  return row
}

/** True when this call hid it (it was visible). */
/** The image hidden now (what purging its cached copies needs), or undefined when it was missing or already hidden. */
export async function hideImage(db: Db, id: string, at: Date): Promise<Pick<ImageRow, 'id' | 'format'> | undefined> {
  const [row]: [Pick<ImageRow, 'id' | 'format'>?] = await db`update images set hidden_at = ${at} where id = ${id} and hidden_at is null returning id, format`
  return row
}

export async function unhideImage(db: Db, id: string): Promise<boolean> {
  return (await db`update images set hidden_at = null where id = ${id} and hidden_at is not null`).count > 0
}

export interface Resolution {
  resolution: 'dismissed' | 'removed' | 'uploader_blocked'
  by: string
  at: Date
}

export async function resolveTarget(db: Db, targetType: string, targetId: string, r: Resolution): Promise<number> {
  const result = await db`
    update abuse_reports set status = 'resolved', resolution = ${r.resolution}, resolved_by = ${r.by}, resolved_at = ${r.at}
    where target_type = ${targetType} and target_id = ${targetId} and status = 'open'`
  return result.count
}

/** Every open report of anything this uploader owns: a blocked account's content is no longer served. */
export async function resolveOwner(db: Db, ownerId: string, r: Resolution): Promise<number> {
  const result = await db`
    update abuse_reports set status = 'resolved', resolution = ${r.resolution}, resolved_by = ${r.by}, resolved_at = ${r.at}
    where target_owner_id = ${ownerId} and status = 'open'`
  return result.count
}

/** Deletes the row and gives its bytes back to the owner, as the owner's own delete does. */
export async function deleteImageRow(tx: TransactionSql, id: string): Promise<ReportedImage | undefined> {
  const [image]: [ReportedImage?] = await tx`
    delete from images where id = ${id}
    returning id, user_id, title, format, variants, b2_file_name, is_public, width, height, stored_bytes, hidden_at`
  if (!image) return undefined
  await tx`update users set storage_used = greatest(0, storage_used - ${image.stored_bytes}) where id = ${image.user_id}`
  return image
}

export interface QueueGroup {
  target_type: string
  target_id: string
  count: number
  open_count: number
  first_reported_at: Date
  last_reported_at: Date
  report_id: number
  owner_id: string | null
}

/**
 * One row per reported target: those with open reports first, then the most recently reported.
 * Read from report_targets (sql/00033), which triggers keep: each status, `all` included, is one
 * range of its index; the number of targets is kept beside it (report_target_totals, sql/00034).
 */
export async function queueGroups(db: Db, status: 'open' | 'resolved' | 'all', limit: number, offset: number) {
  const groups = await db<QueueGroup[]>`
    select target_type, target_id, count, open_count, first_reported_at, last_reported_at, report_id, owner_id
    from report_targets where status = ${status}
    order by (open_count > 0) desc, last_reported_at desc, target_id
    limit ${limit} offset ${offset}`
  const [counted] = await db<{ total: number }[]>`select targets as total from report_target_totals where status = ${status}`
  return { groups, total: counted?.total ?? 0 }
}

/** The newest `perTarget` reports of each target (a target may have thousands), newest first. */
export async function recentReportsOfTargets(db: Db, targets: { target_type: string; target_id: string }[], status: 'open' | 'resolved' | 'all', perTarget: number) {
  if (targets.length === 0) return []
  const statusFilter = status === 'all' ? db`` : db`and a.status = ${status}`
  return db<ReportRow[]>`
    select r.* from unnest(${targets.map((t) => t.target_type)}::text[], ${targets.map((t) => t.target_id)}::text[]) as t(target_type, target_id)
    cross join lateral (
      select ${db(REPORT_FIELDS.map((field) => `a.${field}`))} from abuse_reports a
      where a.target_type = t.target_type and a.target_id = t.target_id ${statusFilter}
      order by a.id desc limit ${perTarget}
    ) r
    order by r.id desc`
}

/** How many reports each target has for each reason, in the status shown. */
export async function reasonCountsOfTargets(db: Db, targets: { target_type: string; target_id: string }[], status: 'open' | 'resolved' | 'all') {
  if (targets.length === 0) return []
  const statusFilter = status === 'all' ? db`` : db`and a.status = ${status}`
  return db<{ target_type: string; target_id: string; reason: string; count: number }[]>`
    select a.target_type, a.target_id, a.reason, count(*)::int as count
    from unnest(${targets.map((t) => t.target_type)}::text[], ${targets.map((t) => t.target_id)}::text[]) as t(target_type, target_id)
    join abuse_reports a on a.target_type = t.target_type and a.target_id = t.target_id ${statusFilter}
    group by a.target_type, a.target_id, a.reason`
}
