import { createHmac, timingSafeEqual } from 'node:crypto'
import type { AppContext } from '../context.ts'

/**
 * Expiring links to one image, signed over its id and the expiry (unix seconds) so neither can
 * be changed. Each kind of link has a purpose of its own (an owner's link, an album page's), so
 * a signature made for one never verifies as another.
 */
export function signImageLink(ctx: Pick<AppContext, 'hmacKey'>, purpose: string, imageId: string, expiresAt: number): string {
  return createHmac('sha256', ctx.hmacKey(purpose)).update(`${imageId}:${expiresAt}`).digest('base64url')
}

/**
 * When a link made now to last `seconds` stops: never after `endsAt`, the end of what it opens
 * (an image's or album's expires_at). It would be a 404 from then on anyway, and its expiry is
 * what the owner is told it lasts.
 */
export function linkExpiry(now: Date, seconds: number, endsAt: Date | null): number {
  const wanted = Math.floor(now.getTime() / 1000) + seconds
  return endsAt === null ? wanted : Math.min(wanted, Math.floor(new Date(endsAt).getTime() / 1000))
}

export function verifyImageLink(
  ctx: Pick<AppContext, 'hmacKey' | 'clock'>,
  purpose: string,
  imageId: string,
  expires: string | undefined,
  sig: string | undefined,
): boolean {
  // One spelling per instant: a link is the one signed, not any form with the same value.
  if (!expires || !sig || !/^[1-9]\d{0,11}$/.test(expires)) return false
  const expiresAt = Number(expires)
  if (expiresAt * 1000 <= ctx.clock.now().getTime()) return false
  const expected = Buffer.from(signImageLink(ctx, purpose, imageId, expiresAt))
  const given = Buffer.from(sig)
  return given.length === expected.length && timingSafeEqual(given, expected)
}
