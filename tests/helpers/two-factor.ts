import { expect } from 'bun:test'
import { Secret, TOTP } from 'otpauth'
import type { ModuleApp } from '#core/app.ts'
import type { Clock } from '#core/clock.ts'
import { call } from './http.ts'

/** A real TOTP generator (the otpauth library, as an authenticator app computes codes). */
export const totpCode = (secret: string, clock: Clock, offsetMs = 0) =>
  new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({ timestamp: clock.now().getTime() + offsetMs })

/** Enrols and confirms an authenticator app through the API; returns its secret and the recovery codes. */
export async function enableTotp(auth: ModuleApp, token: string, clock: Clock) {
  const [started, enrol] = await call(auth, 'POST', '/api/v1/auth/2fa/totp', { token })
  expect(started.status).toBe(200)
  const [confirmed, body] = await call(auth, 'POST', '/api/v1/auth/2fa/totp/confirm', { token, body: { code: totpCode(enrol.secret, clock) } })
  expect(confirmed.status, JSON.stringify(body)).toBe(200)
  return { secret: enrol.secret as string, uri: enrol.otpauth_uri as string, recoveryCodes: body.recovery_codes as string[] }
}

/** The password step: for an account with 2FA, a challenge and no session. */
export async function passwordStep(auth: ModuleApp, identifier: string, password: string) {
  const [response, body] = await call(auth, 'POST', '/api/v1/auth/login', { body: { identifier, password } })
  expect(response.status, JSON.stringify(body)).toBe(200)
  return { response, body }
}

/** Audit actions recorded for a user, oldest first. */
export async function auditActions(sql: import('#core/db/index.ts').Sql, userId: string) {
  // The sign-up's own entries come first in every account's log; the flows checked here start after them.
  const rows = await sql<{ action: string }[]>`
    select action from audit_log where user_id = ${userId} and action not in ('account.created', 'email.verified') order by id`
  return rows.map((row) => row.action)
}
