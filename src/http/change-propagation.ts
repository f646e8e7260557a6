import { Elysia } from 'elysia'
import type { AppContext } from '../context.ts'
import { isSafeMethod } from './csrf.ts'

/**
 * On PostgreSQL every process reads API keys and image lists from memory as long as its
 * listening connection vouches for them, which lets a change made elsewhere take up to
 * CHANGE_PROPAGATION_MS to arrive (src/db/index.ts). A request that may have written therefore
 * answers, success or error, only once that much has passed: when its client learns of the
 * change, every process already has it (a revoked key is refused by the next call on any replica,
 * a new upload is on the next list). Every method but the safe ones may write; the GET routes
 * that do are a verification link, which a person follows, and the view that spends an image's
 * last allowed view, which waits itself (modules/view/image-server.ts). The embedded database
 * needs none of this.
 */
export const changePropagation = (ctx: AppContext) => {
  const plugin = new Elysia({ name: 'change-propagation', seed: ctx.id })
  if (ctx.db.kind !== 'postgres') return plugin
  const settle = ({ request }: { request: Request }) => (isSafeMethod(request.method) ? undefined : ctx.db.changesPropagated().then(() => undefined))
  return plugin.onAfterHandle({ as: 'global' }, settle).onError({ as: 'global' }, settle)
}
