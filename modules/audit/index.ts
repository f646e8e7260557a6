import { Elysia } from 'elysia'
import { authGuard } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { AuditModel } from './model.ts'
import { auditPage } from './service.ts'

/**
 * Reading the audit log (issue 15 §7): a person sees the events of their own account, an admin
 * sees everyone's. Features write entries themselves (src/audit/record.ts); this module owns
 * reading them and their retention.
 */
export const auditModule = (ctx: AppContext) =>
  new Elysia({ name: 'audit', seed: ctx.id })
    .use(authGuard(ctx))
    .get(
      '/api/v1/account/audit',
      async ({ principal, query }) => ({ success: true as const, ...(await auditPage(ctx, { userId: principal.user.id, limit: query.limit, cursor: query.cursor })) }),
      { ...AuditModel.own, session: true, detail: { tags: ['account'], summary: 'Security events of your account, newest first (cursor paging)' } },
    )
    .get(
      '/api/v1/admin/audit',
      async ({ query }) => ({
        success: true as const,
        ...(await auditPage(ctx, { userId: query.user_id, userName: query.user?.trim() || undefined, actionPrefix: query.action, limit: query.limit, cursor: query.cursor })),
      }),
      { ...AuditModel.all, admin: true, detail: { tags: ['admin'], summary: 'Every audit event, newest first; filter by account (id, or username or email) and action prefix' } },
    )
