import type { JobDefinitions } from '#core/jobs/registry.ts'
import { pruneAuditBatch } from './repo.ts'

const DAY_MS = 86_400_000
const BATCH = 5_000

/** The audit log's share of the hourly housekeeping: entries past AUDIT_RETENTION_DAYS go. */
export const auditJobs = {
  housekeeping: {
    schedule: '45 * * * *',
    description: 'Removes audit log entries older than the audit retention period.',
    async run(ctx, run) {
      const cutoff = new Date(ctx.clock.now().getTime() - ctx.config.auditRetentionDays * DAY_MS)
      run.counts.audit_entries = 0
      for (;;) {
        run.signal.throwIfAborted()
        const deleted = await pruneAuditBatch(ctx.sql, cutoff, BATCH)
        run.counts.audit_entries += deleted
        if (deleted < BATCH) break
      }
    },
  },
} satisfies JobDefinitions
