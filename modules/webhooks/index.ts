import { Elysia } from 'elysia'
import { authGuard } from '#core/auth/guard.ts'
import type { AppContext } from '#core/context.ts'
import { WebhookModel } from './model.ts'
import * as service from './service.ts'

/**
 * A webhook receives what happens to your images (ids, URLs, private ones too), so managing one
 * takes the scope that reads them: an upload-only key cannot subscribe itself to your library.
 * Nor can the web page's 15-minute access token: a webhook and its secret would outlast it.
 */
const WEBHOOKS_SCOPE = 'images:read'

const detail = (summary: string, description?: string) => ({ tags: ['webhooks'], summary, ...(description ? { description } : {}) })

/**
 * The user's webhooks and their delivery log. Sending happens in the worker (worker.ts), never
 * here: these routes only read and write rows.
 */
export const webhooksModule = (ctx: AppContext) =>
  new Elysia({ name: 'webhooks', seed: ctx.id })
    .use(authGuard(ctx))
    .group('/api/v1/webhooks', (api) =>
      api
        .post(
          '',
          async ({ principal, body, set }) => {
            const webhook = await service.createWebhook(ctx, principal, body)
            set.status = 201
            return { success: true as const, webhook }
          },
          { ...WebhookModel.create, sessionOrKey: WEBHOOKS_SCOPE, detail: detail('Create a webhook; its secret is shown only here') },
        )
        .get('', async ({ principal }) => ({ success: true as const, webhooks: await service.listWebhooks(ctx, principal) }), {
          ...WebhookModel.list,
          sessionOrKey: WEBHOOKS_SCOPE,
          detail: detail('Your webhooks (never their secrets)'),
        })
        .get('/:id', async ({ principal, params }) => ({ success: true as const, webhook: service.presentWebhook(await service.getWebhook(ctx, principal, params.id)) }), {
          ...WebhookModel.get,
          sessionOrKey: WEBHOOKS_SCOPE,
          detail: detail('One of your webhooks'),
        })
        .patch('/:id', async ({ principal, params, body }) => ({ success: true as const, webhook: await service.updateWebhook(ctx, principal, params.id, body) }), {
          ...WebhookModel.update,
          sessionOrKey: WEBHOOKS_SCOPE,
          detail: detail('Change the URL, events or description, or switch it on or off'),
        })
        .delete(
          '/:id',
          async ({ principal, params }) => {
            await service.deleteWebhook(ctx, principal, params.id)
            return { success: true as const }
          },
          { ...WebhookModel.remove, sessionOrKey: WEBHOOKS_SCOPE, detail: detail('Delete a webhook and its delivery log') },
        )
        .post('/:id/rotate-secret', async ({ principal, params }) => ({ success: true as const, webhook: await service.rotateSecret(ctx, principal, params.id) }), {
          ...WebhookModel.rotate,
          sessionOrKey: WEBHOOKS_SCOPE,
          detail: detail('Replace the secret; the new one is shown only here'),
        })
        .get('/:id/deliveries', async ({ principal, params, query }) => ({ success: true as const, ...(await service.listDeliveries(ctx, principal, params.id, query)) }), {
          ...WebhookModel.deliveries,
          sessionOrKey: WEBHOOKS_SCOPE,
          detail: detail('The delivery log, newest first, with every attempt'),
        })
        .post(
          '/:id/deliveries/:deliveryId/replay',
          async ({ principal, params, set }) => {
            const delivery = await service.replayDelivery(ctx, principal, params.id, params.deliveryId ?? '')
            set.status = 202
            return { success: true as const, delivery }
          },
          { ...WebhookModel.queued, sessionOrKey: WEBHOOKS_SCOPE, detail: detail('Send a logged delivery again', 'Queued: the same body and webhook-id, signed with the current secret.') },
        )
        .post(
          '/:id/test',
          async ({ principal, params, set }) => {
            const delivery = await service.queuePing(ctx, principal, params.id)
            set.status = 202
            return { success: true as const, delivery }
          },
          { ...WebhookModel.queued, sessionOrKey: WEBHOOKS_SCOPE, detail: detail('Queue a webhook.test ping', 'The result shows in the delivery log within seconds.') },
        ),
    )
