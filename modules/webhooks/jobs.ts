import type { JobDefinitions } from '#core/jobs/registry.ts'
import * as repo from './repo.ts'

/** The log is for looking into recent trouble; a month of it is plenty. */
const DELIVERY_KEEP_MS = 30 * 86_400_000

export const webhookJobs = {
  housekeeping: {
    schedule: '45 * * * *',
    description: 'Removes finished webhook deliveries older than 30 days.',
    async run(ctx, run) {
      run.counts.webhook_deliveries = await repo.pruneDeliveries(ctx.sql, new Date(ctx.clock.now().getTime() - DELIVERY_KEEP_MS))
    },
  },
} satisfies JobDefinitions
