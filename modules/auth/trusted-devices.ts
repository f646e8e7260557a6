import { audit } from '#core/audit/record.ts'
import type { UserRow } from '#core/auth/principal.ts'
import type { RequestMeta } from '#core/auth/sessions.ts'
import { randomBase62, sha256Hex } from '#core/auth/tokens.ts'
import type { AppContext } from '#core/context.ts'
import { NotFound } from '#core/errors.ts'
import { isHttps } from '#core/http/client-ip.ts'
import { isUuid } from '#core/http/schemas.ts'
import { deviceName } from './device-name.ts'
import * as repo from './two-factor-repo.ts'

/**
 * "Remember this device": a second step sent with remember_device leaves that browser (or
 * client) a token with which a right password alone signs the account in, for 30 days. The
 * password is still asked every time; only the code is spared. Only the token's hash is kept.
 */

export const TRUSTED_DEVICE_COOKIE = 'trusted_device'
export const TRUSTED_DEVICE_DAYS = 30
const TOKEN_PREFIX = 'td_'
export const TRUSTED_DEVICE_TOKEN_PATTERN = `^${TOKEN_PREFIX}[0-9A-Za-z]{43}$`
const wellFormed = new RegExp(TRUSTED_DEVICE_TOKEN_PATTERN)

/** Sent only to the sign-in routes and the device list; a script sends the token in the body instead. */
export const trustedDeviceCookieOptions = (ctx: AppContext, request: Request, expires: Date) => ({
  httpOnly: true,
  sameSite: 'lax' as const,
  secure: isHttps(request, ctx.config.trustedProxies),
  path: '/api/v1/auth',
  expires,
})

/** The token in the request's cookie, if any (Elysia's jar may hold anything a client sent). */
export const trustedDeviceCookie = (cookie: Record<string, { value?: unknown } | undefined>) => {
  const value = cookie[TRUSTED_DEVICE_COOKIE]?.value
  return typeof value === 'string' ? value : undefined
}

/** Trusts the device a second step was just passed on, under the token version its challenge was issued under. */
export async function rememberDevice(ctx: AppContext, userId: string, tokenVersion: number, meta: RequestMeta) {
  const token = TOKEN_PREFIX + randomBase62(43)
  const createdAt = ctx.clock.now()
  const expiresAt = new Date(createdAt.getTime() + TRUSTED_DEVICE_DAYS * 86_400_000)
  const userAgent = meta.userAgent?.slice(0, 512) ?? null
  await ctx.sql.begin((tx) => repo.insertTrustedDevice(tx, { userId, tokenHash: sha256Hex(token), tokenVersion, userAgent, ip: meta.ip, createdAt, expiresAt }))
  return { token, expires_at: expiresAt }
}

/** Whether this token spares this account its second step now (a token of another account never does). */
export async function deviceIsTrusted(ctx: AppContext, user: UserRow, token: string | undefined) {
  if (!token || !wellFormed.test(token)) return false
  return repo.useTrustedDevice(ctx.sql, user.id, sha256Hex(token), ctx.clock.now())
}

export async function listTrustedDevices(ctx: AppContext, user: UserRow, currentToken: string | undefined) {
  const currentHash = currentToken && wellFormed.test(currentToken) ? sha256Hex(currentToken) : null
  const rows = await repo.listTrustedDevices(ctx.sql, user.id, ctx.clock.now())
  return rows.map(({ token_hash, ...device }) => ({ ...device, name: deviceName(device.user_agent), current: token_hash === currentHash }))
}

/** Forgets one remembered device, or every one without `id`: their next sign-in asks for the second step again. */
export async function forgetTrustedDevices(ctx: AppContext, user: UserRow, id: string | undefined, meta: RequestMeta) {
  const forgotten = id !== undefined && !isUuid(id) ? 0 : await repo.deleteTrustedDevices(ctx.sql, user.id, id)
  if (id !== undefined && forgotten === 0) throw new NotFound('No remembered device with this id', 'trusted_device_not_found')
  if (forgotten > 0) await audit(ctx, { action: 'auth.trusted_devices_forgotten', userId: user.id, detail: { count: forgotten } }, meta)
  return forgotten
}
