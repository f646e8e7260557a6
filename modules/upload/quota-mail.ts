import type { AppContext } from '#core/context.ts'
import { publishEvent } from '#core/events/index.ts'
import { webAppUrl } from '#core/http/html.ts'
import { formatBytes } from '#core/http/multipart.ts'
import { type Recipient, renderMail } from '#core/mail/templates.ts'
import * as repo from './repo.ts'

/** Storage levels that earn a warning mail, in percent of the plan's storage. */
export const STORAGE_WARNING_LEVELS = [80, 100] as const

/** The highest warning level `used` has reached (0 below the first). */
export function storageLevel(used: number, limit: number): number {
  if (limit <= 0) return 0
  let reached = 0
  for (const level of STORAGE_WARNING_LEVELS) if (used * 100 >= limit * level) reached = level
  return reached
}

/** `galleryUrl`: the web app's gallery, where images are deleted (the account page shows the same meter). */
const storageWarningMail = (user: Recipient, percent: number, used: number, limit: number, galleryUrl: string) =>
  renderMail({
    to: user.email,
    name: user.first_name,
    subject: percent >= 100 ? 'Your storage is full' : `You have used ${percent}% of your storage`,
    paragraphs: [
      `Your images use ${formatBytes(used)} of your plan's ${formatBytes(limit)}.`,
      percent >= 100
        ? 'New uploads are refused until you delete images or move to a bigger plan.'
        : 'When it is full, new uploads are refused. Delete images you no longer need, or move to a bigger plan.',
    ],
    action: { label: 'Your images', url: galleryUrl },
  })

/**
 * Called after a change of `storage_used` is committed. Mails the user when usage crosses 80%
 * or 100% of `limit` upwards, once per level: users.storage_warned_percent remembers the last
 * level mailed, and the conditional update makes two racing uploads send one mail, not two.
 * Falling back under 80% re-arms the warnings. The level is judged from `after` alone, so a
 * mail lost to a crash is sent on the next change. Never throws: a warning is not worth
 * failing an upload for. `warnedPercent`, when the caller read storage_warned_percent in the
 * same transaction that set `after`, spares the round trip when there is nothing to change.
 */
export async function notifyStorageThresholds(ctx: AppContext, userId: string, before: number, after: number, limit: number, warnedPercent?: number): Promise<void> {
  try {
    const level = storageLevel(after, limit)
    if (warnedPercent !== undefined && (level === 0 ? warnedPercent === 0 : warnedPercent >= level)) return
    if (level === 0) {
      // Deletes may have brought usage down without calling here; re-arm whenever we are below.
      await repo.rearmStorageWarnings(ctx.sql, userId)
      return
    }
    const user = await repo.claimStorageWarning(ctx.sql, userId, level)
    if (!user) return
    ctx.mailer.send(storageWarningMail(user, level, after, limit, webAppUrl(ctx.config, '/gallery')))
    await publishEvent(ctx.sql, { type: 'quota.warning', userId, data: { resource: 'storage', level_percent: level, used_bytes: after, limit_bytes: limit } })
  } catch (error) {
    ctx.log.warn({ msg: 'storage warning check failed', user_id: userId, before, after, error: String(error) })
  }
}
