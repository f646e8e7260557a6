import type { AppContext } from '#core/context.ts'
import { NotFound } from '#core/errors.ts'
import { imageUrls } from '#core/images/urls.ts'
import * as repo from './repo.ts'

type Status = 'open' | 'resolved' | 'all'

/** Each entry shows its newest reports, this many at most; its counts cover them all. */
const REPORTS_SHOWN = 20

const iso = (value: Date | null) => (value ? new Date(value).toISOString() : null)

/**
 * The admin queue: one entry per reported target (open ones first), with its report count,
 * the count per reason, its recent reports, the image and its uploader.
 */
export async function reportQueue(ctx: AppContext, options: { status: Status; page: number; limit: number }) {
  const { groups, total } = await repo.queueGroups(ctx.sql, options.status, options.limit, (options.page - 1) * options.limit)
  const reports = await repo.recentReportsOfTargets(ctx.sql, groups, options.status, REPORTS_SHOWN)
  const reasonCounts = await repo.reasonCountsOfTargets(ctx.sql, groups, options.status)
  const idsOf = (type: string) => groups.filter((g) => g.target_type === type).map((g) => g.target_id)
  const images = new Map((await repo.imagesByIds(ctx.sql, idsOf('image'))).map((i) => [i.id, i]))
  const albums = new Map((await repo.albumsByIds(ctx.sql, idsOf('album'))).map((a) => [a.id, a]))
  const accountIds = [...groups.map((g) => g.owner_id), ...reports.map((r) => r.reporter_user_id)].filter((id): id is string => !!id)
  const accounts = new Map((await repo.usersByIds(ctx.sql, [...new Set(accountIds)])).map((u) => [u.id, u]))
  const targets = groups.map((group) => {
    const isThis = (row: { target_type: string; target_id: string }) => row.target_type === group.target_type && row.target_id === group.target_id
    const own = reports.filter(isThis)
    const reasons = Object.fromEntries(reasonCounts.filter(isThis).map((row) => [row.reason, row.count]))
    const image = group.target_type === 'image' ? images.get(group.target_id) : undefined
    const album = group.target_type === 'album' ? albums.get(group.target_id) : undefined
    const owner = group.owner_id ? accounts.get(group.owner_id) : undefined
    return {
      target: { type: group.target_type, id: group.target_id },
      status: group.open_count > 0 ? ('open' as const) : ('resolved' as const),
      report_id: group.report_id,
      count: group.count,
      open_count: group.open_count,
      reasons,
      first_reported_at: iso(group.first_reported_at)!,
      last_reported_at: iso(group.last_reported_at)!,
      reports: own.map((r) => ({
        id: r.id,
        reason: r.reason,
        note: r.note,
        reporter: reporterOf(r.reporter_user_id ? accounts.get(r.reporter_user_id) : undefined),
        status: r.status,
        resolution: r.resolution,
        resolved_by: r.resolved_by,
        resolved_at: iso(r.resolved_at),
        created_at: iso(r.created_at)!,
      })),
      image: image
        ? {
            id: image.id,
            title: image.title,
            is_public: image.is_public,
            hidden: image.hidden_at !== null,
            width: image.width,
            height: image.height,
            thumbnail_path: `/api/v1/admin/reports/${group.report_id}/thumbnail`,
            view_url: imageUrls(ctx.config, image).view_url,
          }
        : null,
      album: album
        ? {
            id: album.id,
            title: album.title,
            visibility: album.visibility,
            hidden: album.hidden_at !== null,
            image_count: album.image_count,
            thumbnail_path: album.image_count > 0 ? `/api/v1/admin/reports/${group.report_id}/thumbnail` : null,
            // The albums module's share page (/a/{id}); 404 to everyone else while it is hidden or private.
            view_url: `${ctx.config.publicUrls.view}/a/${album.id}`,
          }
        : null,
      uploader: owner ? { id: owner.id, username: owner.username, email: owner.email, is_blocked: owner.is_blocked } : null,
    }
  })
  return { targets, total }
}

/** Deleting an account clears its reports' reporter (sql/00023): those read as anonymous. */
const reporterOf = (account: { id: string; username: string } | undefined) => (account ? { id: account.id, username: account.username } : null)

async function reportedPicture(ctx: AppContext, report: repo.ReportRow | undefined) {
  if (report?.target_type === 'image') return repo.findImage(ctx.sql, report.target_id)
  if (report?.target_type === 'album') return repo.albumCover(ctx.sql, report.target_id)
  return undefined
}

/**
 * The reported image's thumbnail (an album's: its cover), read from the store for the admin,
 * whatever its visibility: a hidden or private image is a 404 on the view server, but the admin
 * must see what they judge.
 */
export async function reportThumbnail(ctx: AppContext, reportId: string): Promise<Response> {
  const image = await reportedPicture(ctx, await repo.findReport(ctx.sql, reportId))
  // A tiny image keeps no thumb lighter than itself (src/media/process-image.ts): then the original.
  const variant =
    image &&
    (image.variants.find((v) => v.name === 'thumb' && v.format === image.format) ??
      image.variants.find((v) => v.name === 'thumb') ??
      image.variants.find((v) => v.name === 'original'))
  const object = variant ? await ctx.storage.get(variant.key) : null
  if (!variant || !object) throw new NotFound('No thumbnail for this report', 'thumbnail_not_found')
  return new Response(object.body, {
    headers: {
      'content-type': variant.content_type,
      'content-length': String(object.size),
      // Reported content may be illegal: never kept by a shared cache, nor by the browser for long.
      'cache-control': 'private, no-store',
      'content-security-policy': "default-src 'none'",
    },
  })
}
