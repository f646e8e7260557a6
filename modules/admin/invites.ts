import { Elysia, t } from 'elysia'
import { recordAudit } from '#core/audit/index.ts'
import { authGuard } from '#core/auth/guard.ts'
import type { Principal } from '#core/auth/principal.ts'
import { type RequestMeta, requestMeta } from '#core/auth/sessions.ts'
import { PLANS } from '#core/config.ts'
import type { AppContext } from '#core/context.ts'
import { Conflict, NotFound } from '#core/errors.ts'
import { ErrorResponse, isUuid } from '#core/http/schemas.ts'
import { SealedUnreadable, openSealed, seal } from '#core/sealed.ts'
import { generateInviteCode } from '#core/registration/index.ts'
import * as repo from '#core/registration/repo.ts'

/**
 * Invites (REGISTRATION=invite, issue 15 §5): an admin makes a single-use link, optionally for
 * one address and with a plan. Sign-ups are matched by the code's hash; the code itself is kept
 * sealed while the invite is pending, so the admin list can offer its link again.
 */

const CODE_PURPOSE = 'invite-code'

const DAY_MS = 86_400_000
const DEFAULT_INVITE_DAYS = 7
const MAX_INVITE_DAYS = 90

const Timestamp = t.Union([t.Date(), t.String()])
const Invite = t.Object({
  id: t.String(),
  prefix: t.String({ description: 'The first characters of the code, to tell invites apart' }),
  email: t.Nullable(t.String()),
  plan_type: t.Nullable(t.UnionEnum(PLANS)),
  status: t.UnionEnum(['pending', 'used', 'expired'] as const),
  expires_at: Timestamp,
  used_at: t.Nullable(Timestamp),
  used_by: t.Nullable(t.Object({ id: t.String(), username: t.Nullable(t.String()) })),
  created_by: t.Nullable(t.String({ description: "The admin's username" })),
  created_at: Timestamp,
  url: t.Nullable(t.String({ description: 'The sign-up link, while the invite is pending (null once used or expired, and for invites made before links were kept)' })),
})
const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 422: ErrorResponse, 429: ErrorResponse }

export const InviteModel = {
  create: {
    body: t.Object({
      email: t.Optional(t.Nullable(t.String({ format: 'email', maxLength: 254, description: 'Only this address may use it' }))),
      plan_type: t.Optional(t.Nullable(t.UnionEnum(PLANS, { description: 'The new account\'s plan; default free' }))),
      expires_in_days: t.Optional(t.Integer({ minimum: 1, maximum: MAX_INVITE_DAYS, description: `Default ${DEFAULT_INVITE_DAYS}` })),
    }),
    response: {
      201: t.Object({
        success: t.Literal(true),
        invite: t.Composite([Invite, t.Object({ code: t.String(), url: t.String({ description: 'The sign-up link to send' }) })]),
      }),
      ...Errors,
    },
  },
  list: { response: { 200: t.Object({ success: t.Literal(true), registration: t.String(), invites: t.Array(Invite) }), ...Errors } },
  revoke: { params: t.Object({ id: t.String({ maxLength: 64 }) }), response: { 200: t.Object({ success: t.Literal(true) }), ...Errors, 409: ErrorResponse } },
} as const

/** The pending invite's link, opened from its seal; null where there is none to give. */
function linkOf(ctx: AppContext, row: repo.InviteRow, status: 'pending' | 'used' | 'expired') {
  if (status !== 'pending' || row.code_sealed === null) return null
  try {
    return inviteUrl(ctx, openSealed(ctx, CODE_PURPOSE, row.code_sealed).value)
  } catch (error) {
    // Sealed under a server secret that is gone: the invite still works, its link is just not shown again.
    if (error instanceof SealedUnreadable) return null
    throw error
  }
}

function publicInvite(ctx: AppContext, row: repo.InviteRow, now: Date) {
  const status = row.used_at ? ('used' as const) : row.expires_at.getTime() <= now.getTime() ? ('expired' as const) : ('pending' as const)
  return {
    id: row.id,
    prefix: row.code_prefix,
    email: row.email,
    plan_type: row.plan_type,
    status,
    expires_at: row.expires_at,
    used_at: row.used_at,
    used_by: row.used_by ? { id: row.used_by, username: row.used_by_username } : null,
    created_by: row.created_by_username,
    created_at: row.created_at,
    url: linkOf(ctx, row, status),
  }
}

/** The web app's sign-up page with the code filled in. */
export const inviteUrl = (ctx: AppContext, code: string) => `${ctx.config.publicUrls.auth}/signup?invite=${encodeURIComponent(code)}`

export async function createInvite(ctx: AppContext, admin: Principal, input: typeof InviteModel.create.body.static, meta: RequestMeta) {
  const now = ctx.clock.now()
  const { code, prefix, hash } = generateInviteCode()
  const email = input.email?.trim() || null
  const row = await repo.insertInvite(ctx.sql, {
    hash,
    sealed: seal(ctx, CODE_PURPOSE, code),
    prefix,
    email,
    plan: input.plan_type ?? null,
    createdBy: admin.user.id,
    expiresAt: new Date(now.getTime() + (input.expires_in_days ?? DEFAULT_INVITE_DAYS) * DAY_MS),
  })
  await recordAudit(
    ctx.sql,
    { action: 'admin.invite_created', userId: null, actorId: admin.user.id, ...meta, detail: { invite_id: row.id, prefix, email, plan_type: row.plan_type, expires_at: row.expires_at } },
    (error) => ctx.log.warn({ msg: 'audit write failed', error: String(error) }),
  )
  return { ...publicInvite(ctx, row, now), code, url: inviteUrl(ctx, code) }
}

export async function revokeInvite(ctx: AppContext, admin: Principal, id: string, meta: RequestMeta) {
  if (!isUuid(id)) throw new NotFound('Invite not found')
  const outcome = await repo.deleteUnusedInvite(ctx.sql, id)
  if ('used' in outcome) {
    if (outcome.used) throw new Conflict('This invite was used: it stays as the record of who signed up with it', 'invite_used')
    throw new NotFound('Invite not found')
  }
  const removed = outcome.deleted
  await recordAudit(ctx.sql, { action: 'admin.invite_revoked', userId: null, actorId: admin.user.id, ...meta, detail: { invite_id: id, prefix: removed.code_prefix } }, (error) =>
    ctx.log.warn({ msg: 'audit write failed', error: String(error) }),
  )
}

export const inviteRoutes = (ctx: AppContext) =>
  new Elysia({ name: 'admin-invites', seed: ctx.id })
    .use(authGuard(ctx))
    .post(
      '/api/v1/admin/invites',
      async ({ principal, body, set, request, server }) => {
        const invite = await createInvite(ctx, principal, body, requestMeta(ctx, request, server))
        set.status = 201
        return { success: true as const, invite }
      },
      { ...InviteModel.create, admin: true, detail: { tags: ['admin'], summary: 'Create a single-use invite link (optionally for one address, with a plan)' } },
    )
    .get(
      '/api/v1/admin/invites',
      async () => {
        const now = ctx.clock.now()
        const rows = await repo.listInvites(ctx.sql, 200)
        return { success: true as const, registration: ctx.config.registration, invites: rows.map((row) => publicInvite(ctx, row, now)) }
      },
      { ...InviteModel.list, admin: true, detail: { tags: ['admin'], summary: 'Invites, newest first, each pending one with its link' } },
    )
    .delete(
      '/api/v1/admin/invites/:id',
      async ({ principal, params, request, server }) => {
        await revokeInvite(ctx, principal, params.id, requestMeta(ctx, request, server))
        return { success: true as const }
      },
      { ...InviteModel.revoke, admin: true, detail: { tags: ['admin'], summary: 'Revoke an unused invite (its link stops working); a used one is 409 invite_used and stays listed' } },
    )
