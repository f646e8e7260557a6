import { Elysia } from 'elysia'
import { authGuard } from '#core/auth/guard.ts'
import type { Principal } from '#core/auth/principal.ts'
import { type RequestMeta, requestMeta } from '#core/auth/sessions.ts'
import type { AppContext } from '#core/context.ts'
import { AppError, NotFound, fieldRefused } from '#core/errors.ts'
import { personFacing, refusedWithPage } from '#core/http/html.ts'
import { NOTE_MAX_LENGTH, ModerationModel, REPORT_REASONS, type ReportReason } from './model.ts'
import { reportQueue, reportThumbnail } from './queue.ts'
import { type FormTarget, reportErrorPage, reportFormPage, reportSentPage } from './report-page.ts'
import * as service from './service.ts'

/**
 * Filing reports, on the view server: that is where viewers are (the image's page links to the
 * form), it needs no account, and the web app can call the JSON route cross-origin (CORS).
 */
export const moderationReportsModule = (ctx: AppContext) =>
  new Elysia({ name: 'moderation-reports', seed: ctx.id })
    .use(authGuard(ctx))
    .use(moderationReportFormsModule(ctx))
    .post(
      '/api/v1/reports',
      async ({ body, request, server, set, principal }) => {
        const outcome = await service.fileReport(ctx, body, requestMeta(ctx, request, server), principal)
        set.status = outcome.duplicate ? 200 : 201
        return { success: true as const, ...outcome }
      },
      {
        ...ModerationModel.report,
        optionalAuth: true,
        detail: { tags: ['moderation'], summary: 'Report an image or an album (no account needed; a signed-in reporter is named to admins); one report per account, else per address, and target' },
      },
    )

/**
 * The HTML report forms, on the view server and on the auth server: the session cookie is
 * host-only, so where the two have separate host names only the auth server's copy can name a
 * signed-in visitor, and the pages link there (sessionFormLink). On one listener (single-port
 * mode) Elysia mounts this plugin once: same name, same seed.
 */
export const moderationReportFormsModule = (ctx: AppContext) =>
  new Elysia({ name: 'moderation-report-forms', seed: ctx.id })
    .use(authGuard(ctx))
    .get('/report/:id', ({ params, request, principal }) => reportForm(ctx, request, { type: 'image', id: params.id ?? '' }, principal), {
      ...ModerationModel.reportForm,
      ...personFacing,
      browserSession: true,
      detail: { tags: ['moderation'], summary: 'The HTML report form for an image' },
    })
    .post('/report/:id', ({ params, body, request, server, principal }) => postReportForm(ctx, request, { type: 'image', id: params.id ?? '' }, body, requestMeta(ctx, request, server), principal), {
      ...ModerationModel.reportFormPost,
      ...personFacing,
      browserSession: true,
      // The HTML form posts here: the only type this route takes (src/http/body-limit.ts).
      parse: 'urlencoded',
      detail: { tags: ['moderation'], summary: 'The image report form, posted; a browser signed in on this host (session cookie) is named to admins' },
    })
    .get('/report/album/:id', ({ params, request, principal }) => reportForm(ctx, request, { type: 'album', id: params.id ?? '' }, principal), {
      ...ModerationModel.reportForm,
      ...personFacing,
      browserSession: true,
      detail: { tags: ['moderation'], summary: 'The HTML report form for an album (linked from its share page)' },
    })
    .post('/report/album/:id', ({ params, body, request, server, principal }) => postReportForm(ctx, request, { type: 'album', id: params.id ?? '' }, body, requestMeta(ctx, request, server), principal), {
      ...ModerationModel.reportFormPost,
      ...personFacing,
      browserSession: true,
      parse: 'urlencoded',
      detail: { tags: ['moderation'], summary: 'The album report form, posted; a browser signed in on this host (session cookie) is named to admins' },
    })

async function reportForm(ctx: AppContext, request: Request, target: FormTarget, account: Principal | undefined) {
  if (!(await service.isReportable(ctx, target))) {
    // The code POST /api/v1/reports gives the same target (service.fileReport), for a script (refusedWithPage).
    const refusal = new NotFound('Nothing to report with that id', 'target_not_found')
    return refusedWithPage(request, refusal, () => reportErrorPage(`${target.type === 'album' ? 'Album' : 'Image'} not found`, `There is no ${target.type} with this address.`, 404))
  }
  return reportFormPage(ctx.config.publicUrls.view, target, { reporter: account?.user.username })
}

async function postReportForm(ctx: AppContext, request: Request, target: FormTarget, body: { reason?: string; note?: string }, meta: RequestMeta, account: Principal | undefined) {
  const reporter = account?.user.username
  const viewUrl = ctx.config.publicUrls.view
  const reason = REPORT_REASONS.includes(body.reason as ReportReason) ? (body.reason as ReportReason) : undefined
  const note = body.note ?? ''
  if (!reason) {
    const refusal = fieldRefused('invalid_reason', 'reason', `must be one of ${REPORT_REASONS.join(', ')}`, body.reason)
    return refusedWithPage(request, refusal, () => reportFormPage(viewUrl, target, { error: 'Choose a reason.', status: 400, note, reporter }))
  }
  if (note.length > NOTE_MAX_LENGTH) {
    const refusal = fieldRefused('invalid_note', 'note', `must be at most ${NOTE_MAX_LENGTH} characters`, note)
    return refusedWithPage(request, refusal, () => reportFormPage(viewUrl, target, { error: `Details are limited to ${NOTE_MAX_LENGTH} characters.`, status: 400, reason, note, reporter }))
  }
  try {
    const outcome = await service.fileReport(ctx, { target, reason, note }, meta, account)
    return reportSentPage(viewUrl, target, outcome.duplicate, reporter)
  } catch (error) {
    if (error instanceof AppError) return refusedWithPage(request, error, () => reportErrorPage('Report not sent', error.message, error.status))
    throw error
  }
}

/** The admin queue and its actions, on the auth server with the other admin pages. */
export const moderationAdminModule = (ctx: AppContext) =>
  new Elysia({ name: 'moderation-admin', seed: ctx.id })
    .use(authGuard(ctx))
    .get(
      '/api/v1/admin/reports',
      async ({ query }) => {
        const page = query.page ?? 1
        const limit = query.limit ?? 20
        const { targets, total } = await reportQueue(ctx, { status: query.status ?? 'all', page, limit })
        return { success: true as const, targets, total, page, limit }
      },
      { ...ModerationModel.queue, admin: true, detail: { tags: ['moderation'], summary: 'Reported content grouped per target, open first, with counts per reason' } },
    )
    .get('/api/v1/admin/reports/:id/thumbnail', ({ params }) => reportThumbnail(ctx, params.id), {
      ...ModerationModel.thumbnail,
      admin: true,
      detail: { tags: ['moderation'], summary: 'The reported image’s thumbnail, whatever its visibility' },
    })
    .post('/api/v1/admin/reports/:id/dismiss', ({ principal, params, request, server }) => service.dismiss(ctx, principal, params.id, requestMeta(ctx, request, server)), {
      ...ModerationModel.action,
      admin: true,
      detail: { tags: ['moderation'], summary: 'Close the target’s open reports; unhide it if it was hidden' },
    })
    .post('/api/v1/admin/reports/:id/remove', ({ principal, params, request, server }) => service.removeContent(ctx, principal, params.id, requestMeta(ctx, request, server)), {
      ...ModerationModel.action,
      admin: true,
      detail: { tags: ['moderation'], summary: 'Delete the reported content (rows, objects, CDN copies) and close its reports' },
    })
    .post('/api/v1/admin/reports/:id/block-uploader', ({ principal, params, request, server }) => service.blockUploader(ctx, principal, params.id, requestMeta(ctx, request, server)), {
      ...ModerationModel.action,
      admin: true,
      detail: { tags: ['moderation'], summary: 'Block the uploader (as the users page does) and close the reports of their content' },
    })
