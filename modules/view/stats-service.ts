import type { Principal } from '#core/auth/principal.ts'
import type { AppContext } from '#core/context.ts'
import { isImageId } from '#core/images/ids.ts'
import type { StoredFormat } from '#core/media/types.ts'
import { imageUrls } from '#core/images/urls.ts'
import { detailsWithheld, withheldImage } from '#core/images/withheld.ts'
import { ImageNotFound } from './errors.ts'
import { accountsRolledUpThrough } from './rollup.ts'
import { type AccountPeriod, accountBreakdowns, accountDays, topImages } from './stats-account-repo.ts'
import { DIMENSIONS, type DayTotals, type Dimension, breakdowns, dailyTotals, ownerOf } from './stats-repo.ts'

const TOP_N = 10
const IMAGE_STATS_DAYS = 30
const DAY_MS = 86_400_000

const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10)
const startOfUtcDay = (date: Date) => Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate())

type Sums = Pick<DayTotals, 'views' | 'unique_views' | 'bot_views' | 'bot_unique_views' | 'bytes'>
const FIELDS = ['views', 'unique_views', 'bot_views', 'bot_unique_views', 'bytes'] as const
const zero = (): Sums => ({ views: 0, unique_views: 0, bot_views: 0, bot_unique_views: 0, bytes: 0 })

/**
 * Rows of several sources per day, added up per day and over all. Unique visitors are counted
 * per day (visitor keys are salted per day), so the total is of visitor-days; the sources of one
 * day never hold the same view (each repository says why).
 */
function sumDays(rows: DayTotals[]) {
  const totals = zero()
  const byDay = new Map<string, Sums>()
  for (const row of rows) {
    const sum = byDay.get(row.date) ?? zero()
    for (const field of FIELDS) {
      sum[field] += row[field]
      totals[field] += row[field]
    }
    byDay.set(row.date, sum)
  }
  return { totals, byDay }
}

/** The `days` days ending today (UTC), oldest first, each with its sums or zeros. */
function series(byDay: Map<string, Sums>, today: number, days: number) {
  return Array.from({ length: days }, (_, i) => {
    const date = utcDay(today - (days - 1 - i) * DAY_MS)
    const sum = byDay.get(date)
    return { date, views: sum?.views ?? 0, unique_views: sum?.unique_views ?? 0, bot_views: sum?.bot_views ?? 0 }
  })
}

/** The first TOP_N values of each breakdown (rows come sorted by views); '' becomes null. */
function topLists(counts: { dimension: Dimension; value: string; views: number }[]) {
  const top = Object.fromEntries(DIMENSIONS.map((d) => [d, [] as { name: string | null; views: number }[]])) as Record<Dimension, { name: string | null; views: number }[]>
  for (const row of counts) {
    const list = top[row.dimension]
    if (list.length < TOP_N) list.push({ name: row.value === '' ? null : row.value, views: row.views })
  }
  return top
}

const viewsOf = (totals: Sums) => ({
  human: { total: totals.views, unique: totals.unique_views },
  bot: { total: totals.bot_views, unique: totals.bot_unique_views },
})

/** Owner-only analytics of one image, all time (the chart: 30 days): a stranger's request looks exactly like one for a missing image. */
export async function imageStats(ctx: AppContext, principal: Principal, id: string) {
  const image = isImageId(id) ? await ownerOf(ctx.sql, id) : null
  if (!image || image.user_id !== principal.user.id) throw new ImageNotFound()
  const [days, counts] = await Promise.all([dailyTotals(ctx.sql, id), breakdowns(ctx.sql, id)])
  const { totals, byDay } = sumDays(days)
  return {
    id,
    views: viewsOf(totals),
    /** The image's own counter (human views), as /info shows it. */
    counter: image.views,
    bandwidth: { bytes: totals.bytes },
    daily: series(byDay, startOfUtcDay(ctx.clock.now()), IMAGE_STATS_DAYS),
    top: topLists(counts),
  }
}

/**
 * The caller's whole account over the last `days` days, today (UTC) included: what
 * GET /stats/{id} says of one image, for all of them, and which images were seen most.
 * Days the analytics job has rolled up are read from account_view_daily, one row each; only the
 * days after (today and yesterday, normally) are summed from the views themselves.
 */
export async function accountStats(ctx: AppContext, principal: Principal, days: number) {
  const today = startOfUtcDay(ctx.clock.now())
  const from = utcDay(today - (days - 1) * DAY_MS)
  const through = await accountsRolledUpThrough(ctx.sql)
  const afterThrough = through ? utcDay(Date.parse(`${through}T00:00:00Z`) + DAY_MS) : from
  const period: AccountPeriod = { userId: principal.user.id, from, since: afterThrough > from ? afterThrough : from }
  const [dayRows, counts, images] = await Promise.all([
    accountDays(ctx.sql, period),
    accountBreakdowns(ctx.sql, period),
    topImages(ctx.sql, period, TOP_N),
  ])
  const { totals, byDay } = sumDays(dayRows)
  return {
    days,
    from,
    to: utcDay(today),
    views: viewsOf(totals),
    bandwidth: { bytes: totals.bytes },
    daily: series(byDay, today, days),
    top: topLists(counts),
    top_images: images.map((image) =>
      // As the albums API answers (src/images/withheld.ts), with its views: a key without
      // images:read learns a private image's id and views, not its title or file name.
      detailsWithheld(principal, image)
        ? { ...withheldImage(image), views: image.views }
        : {
            id: image.id,
            title: image.title,
            name: image.title || image.original_name || image.filename,
            thumbnail: imageUrls(ctx.config, { id: image.id, format: image.format as StoredFormat }).thumbnail,
            is_public: image.is_public,
            max_views: image.max_views,
            hidden_by_moderation: image.hidden,
            views: image.views,
          },
    ),
  }
}
