import { PLAN_LIMITS } from '../config.ts'
import type { AppContext } from '../context.ts'
import { formatBytes } from '../http/multipart.ts'
import { renderMail } from '../mail/templates.ts'
import { type NewlyLimitedAccount, decideBandwidthLimits } from './repo.ts'

/** "2030-06-01 00:00 UTC": the reset is the same instant for everyone, so it is said in UTC. */
const utcMinute = (instant: Date) => `${instant.toISOString().slice(0, 16).replace('T', ' ')} UTC`

export const bandwidthLimitMail = (account: NewlyLimitedAccount, accountUrl: string) =>
  renderMail({
    to: account.email,
    name: account.first_name,
    subject: 'Your monthly bandwidth is used up',
    paragraphs: [
      `Your images have used this month's bandwidth: the ${account.plan} plan allows ${formatBytes(PLAN_LIMITS[account.plan].bandwidthBytesPerMonth)} a month.`,
      `Until ${utcMinute(account.until)}, when the count starts over, your images and album downloads are refused to everyone but you. You can still open and download them yourself while signed in.`,
      'An administrator can move your account to a bigger plan, which lifts the limit at once.',
    ],
    action: { label: 'Your account', url: accountUrl },
  })

/**
 * Tells each owner their account has just been limited (decideBandwidthLimits' answer). Called
 * only once the change has committed: a rolled-back plan change must not have mailed. Sending
 * queues and never throws (ctx.mailer).
 */
export function mailBandwidthLimited(ctx: Pick<AppContext, 'mailer' | 'config'>, accounts: NewlyLimitedAccount[]): void {
  for (const account of accounts) ctx.mailer.send(bandwidthLimitMail(account, `${ctx.config.publicUrls.auth}/account`))
}

/**
 * decideBandwidthLimits outside any transaction (the view recorder after a batch, an album's ZIP
 * once sent), then the mail to each owner it limited: the statement has committed by then.
 */
export async function decideBandwidthLimitsAndMail(ctx: AppContext, owners: { userIds: string[] } | { imageIds: string[] }): Promise<void> {
  mailBandwidthLimited(ctx, await decideBandwidthLimits(ctx.sql, owners, ctx.clock.now()))
}
