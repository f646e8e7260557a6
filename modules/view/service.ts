import type { Principal } from '#core/auth/principal.ts'
import type { AppContext } from '#core/context.ts'
import { NotFound } from '#core/errors.ts'
import { isImageId } from '#core/images/ids.ts'
import { signLink } from './access.ts'
import { imageIdFromUrl, oembedFor, renderEmbedPage } from './embed.ts'
import type { ImageServer } from './image-server.ts'
import { findPublicInfo, findViewableImage } from './repo.ts'
import { DIMENSIONS, type Dimension, breakdowns, dailyTotals, ownerOf } from './stats-repo.ts'
import { extensionOf } from './variants.ts'

const notFound = () => new NotFound('Image not found', 'image_not_found')
const TOP_N = 10
const STATS_DAYS = 30

/** GET /info: public facts about public images only; nothing about the owner. */
export async function publicInfo(ctx: AppContext, id: string) {
  const row = isImageId(id) ? await findPublicInfo(ctx.sql, id) : null
  if (!row) throw notFound()
  return {
    id: row.id,
    filename: row.filename,
    size: row.file_size,
    dimensions: { width: row.width, height: row.height },
    mime_type: row.mime_type,
    views: row.views,
    uploaded_at: new Date(row.uploaded_at).toISOString(),
  }
}

/** The image behind an embed or oEmbed request: public ones only (a private one does not exist here). */
async function publicImage(images: ImageServer, id: string | null) {
  const image = id && isImageId(id) ? await images.lookup(id) : null
  if (!image || !image.is_public) throw notFound()
  return image
}

export async function embedPage(ctx: AppContext, images: ImageServer, id: string): Promise<string> {
  return renderEmbedPage(ctx.config, await publicImage(images, id))
}

export async function oembed(ctx: AppContext, images: ImageServer, url: string, maxWidth?: number, maxHeight?: number) {
  const image = await publicImage(images, imageIdFromUrl(ctx.config, url))
  return oembedFor(ctx.config, image, maxWidth, maxHeight)
}

/** A link to a private image that works without credentials until `expiresIn` seconds from now. */
export async function mintSignedUrl(ctx: AppContext, principal: Principal, id: string, expiresIn: number) {
  const image = isImageId(id) ? await findViewableImage(ctx.sql, id) : null
  if (!image || image.user_id !== principal.user.id) throw notFound()
  const expiresAt = Math.floor(ctx.clock.now().getTime() / 1000) + expiresIn
  const sig = signLink(ctx, image.id, expiresAt)
  return {
    url: `${ctx.config.publicUrls.view}/i/${image.id}.${extensionOf(image.format)}?expires=${expiresAt}&sig=${sig}`,
    expires_at: new Date(expiresAt * 1000).toISOString(),
  }
}

const utcDay = (date: Date) => date.toISOString().slice(0, 10)

/** Owner-only analytics: a stranger's request looks exactly like one for a missing image. */
export async function imageStats(ctx: AppContext, principal: Principal, id: string) {
  const image = isImageId(id) ? await ownerOf(ctx.sql, id) : null
  if (!image || image.user_id !== principal.user.id) throw notFound()
  const [days, counts] = await Promise.all([dailyTotals(ctx.sql, id), breakdowns(ctx.sql, id)])

  const totals = { views: 0, unique_views: 0, bot_views: 0, bot_unique_views: 0, bytes: 0 }
  const byDay = new Map<string, typeof totals>()
  for (const day of days) {
    const sum = byDay.get(day.date) ?? { views: 0, unique_views: 0, bot_views: 0, bot_unique_views: 0, bytes: 0 }
    for (const field of Object.keys(totals) as (keyof typeof totals)[]) {
      sum[field] += day[field]
      totals[field] += day[field]
    }
    byDay.set(day.date, sum)
  }
  const today = ctx.clock.now()
  const daily = Array.from({ length: STATS_DAYS }, (_, i) => {
    const date = utcDay(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - (STATS_DAYS - 1 - i))))
    const sum = byDay.get(date)
    return { date, views: sum?.views ?? 0, unique_views: sum?.unique_views ?? 0, bot_views: sum?.bot_views ?? 0 }
  })
  const top = Object.fromEntries(DIMENSIONS.map((d) => [d, [] as { name: string | null; views: number }[]])) as Record<Dimension, { name: string | null; views: number }[]>
  for (const row of counts) {
    const list = top[row.dimension]
    if (list.length < TOP_N) list.push({ name: row.value === '' ? null : row.value, views: row.views })
  }
  return {
    id,
    views: {
      human: { total: totals.views, unique: totals.unique_views },
      bot: { total: totals.bot_views, unique: totals.bot_unique_views },
    },
    /** The image's own counter (human views), as /info shows it. */
    counter: image.views,
    bandwidth: { bytes: totals.bytes },
    daily,
    top,
  }
}
