import { PLANS } from '#core/config.ts'
import type { AppContext } from '#core/context.ts'
import * as repo from './repo.ts'

export const STATS_DAYS = 30

/** The last `days` UTC dates, oldest first, each with the count found or 0. */
function series(today: Date, days: number, rows: { date: string; count: number }[]) {
  const byDate = new Map(rows.map((row) => [row.date, row.count]))
  return Array.from({ length: days }, (_, i) => {
    const date = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - (days - 1 - i))).toISOString().slice(0, 10)
    return { date, count: byDate.get(date) ?? 0 }
  })
}

export async function adminStats(ctx: AppContext) {
  const now = ctx.clock.now()
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (STATS_DAYS - 1)))
  const [totals, uploads, views, albumViews] = await Promise.all([
    repo.platformTotals(ctx.sql),
    repo.uploadsPerDay(ctx.sql, from),
    repo.viewsPerDay(ctx.sql, from),
    repo.albumViewsPerDay(ctx.sql, from),
  ])
  const byPlan = Object.fromEntries(PLANS.map((plan) => [plan, 0])) as Record<string, number>
  for (const row of totals.plans) byPlan[row.plan_type] = row.count
  return {
    users: { total: totals.users, by_plan: byPlan, deletion_scheduled: totals.deletionScheduled },
    images: { total: totals.images },
    storage: { used_bytes: totals.storageUsed },
    days: STATS_DAYS,
    uploads_per_day: series(now, STATS_DAYS, uploads),
    views_per_day: series(now, STATS_DAYS, views),
    album_views_per_day: series(now, STATS_DAYS, albumViews),
  }
}
