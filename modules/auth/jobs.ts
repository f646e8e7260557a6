import { pruneAppGrants } from '#core/auth/app-grants.ts'
import type { JobDefinitions } from '#core/jobs/registry.ts'
import * as repo from './repo.ts'
import { pruneChallenges, pruneTrustedDevices } from './two-factor-repo.ts'

const DAY_MS = 86_400_000
/** Used or expired mail tokens are kept a day, so a second click still gets "already used". */
const MAIL_TOKEN_KEEP_MS = DAY_MS

/** The auth module's share of the hourly housekeeping: its tables only ever grow otherwise. */
export const authJobs = {
  housekeeping: {
    schedule: '45 * * * *',
    description: 'Removes expired sessions, used or expired mailed links, abandoned sign-ins through Google, GitHub or single sign-on, unanswered two-factor checks, expired or forgotten remembered devices, sign-out notices too old to be used again, PINs for apps past their time and their refresh tokens spent long ago.',
    async run(ctx, run) {
      const now = ctx.clock.now()
      run.counts.expired_sessions = await repo.pruneExpiredSessions(ctx.sql, now)
      run.counts.auth_tokens = await repo.pruneMailTokens(ctx.sql, new Date(now.getTime() - MAIL_TOKEN_KEEP_MS))
      run.counts.oauth_states = await repo.pruneOAuthStates(ctx.sql, now)
      run.counts.auth_challenges = await pruneChallenges(ctx.sql, now)
      run.counts.trusted_devices = await pruneTrustedDevices(ctx.sql, now)
      run.counts.oidc_logout_tokens = await repo.pruneLogoutTokens(ctx.sql, now)
      const appGrants = await pruneAppGrants(ctx.sql, now)
      run.counts.app_pins = appGrants.pins
      run.counts.app_refresh_tokens = appGrants.refreshTokens
    },
  },
} satisfies JobDefinitions
