import { expect, test } from 'bun:test'
import { manualClock } from '#core/clock.ts'
import { type TestApp, authAppOf, call, describeEachBackend, registerUser } from '../helpers/index.ts'
import { secondProcess } from '../helpers/replicas.ts'
import { enableTotp, passwordStep, totpCode } from '../helpers/two-factor.ts'

// Midway through a 30 s step, so a code made "now" is not at a step's edge.
const clock = manualClock(new Date('2026-12-02T10:00:15Z'))
const NEW_SECRET = 'rotated-secret-rotated-secret-0123456789'

/** A process on the same database started after JWT_SECRET was changed, as an operator rotating it would run. */
async function rotated(app: TestApp, { keepPrevious }: { keepPrevious: boolean }) {
  const config = { ...app.config, jwtSecret: NEW_SECRET, jwtSecretPrevious: keepPrevious ? app.config.jwtSecret : undefined }
  const process = await secondProcess(app, { config })
  return { auth: authAppOf(process.ctx), close: process.close }
}

/** Both steps of a sign-in; `code` is an authenticator app's, `recovery_code` a recovery code. */
async function secondStep(auth: TestApp['auth'], user: { username: string; password: string }, answer: { code: string } | { recovery_code: string }) {
  const { body } = await passwordStep(auth, user.username, user.password)
  return call(auth, 'POST', '/api/v1/auth/login/2fa', { body: { challenge_token: body.challenge_token, ...answer } })
}

const sealedSeed = async (app: TestApp, userId: string) =>
  (await app.ctx.sql<{ secret_encrypted: string }[]>`select secret_encrypted from user_totp where user_id = ${userId}`)[0]!.secret_encrypted

describeEachBackend(
  'rotating JWT_SECRET',
  (app) => {
    test('without JWT_SECRET_PREVIOUS an authenticator code is a clear 503 naming it, not a 500; sessions signed before end', async () => {
      const user = await registerUser(app().auth)
      const { secret } = await enableTotp(app().auth, user.token, clock)
      clock.advance(30_000)
      const after = await rotated(app(), { keepPrevious: false })
      try {
        const [oldSession] = await call(after.auth, 'GET', '/api/v1/account', { token: user.token })
        expect(oldSession.status).toBe(401)
        const [refused, body] = await secondStep(after.auth, user, { code: totpCode(secret, clock) })
        expect(refused.status, JSON.stringify(body)).toBe(503)
        expect(body.error.code).toBe('second_factor_unreadable')
        expect(body.error.message).toContain('JWT_SECRET_PREVIOUS')
        expect(await sealedSeed(app(), user.id)).toBeTruthy()
      } finally {
        await after.close()
      }
    })

    test('with JWT_SECRET_PREVIOUS the authenticator app and recovery codes keep working; the seed is sealed again under the new secret', async () => {
      const user = await registerUser(app().auth)
      const { secret, recoveryCodes } = await enableTotp(app().auth, user.token, clock)
      const sealedBefore = await sealedSeed(app(), user.id)
      clock.advance(30_000)
      const withPrevious = await rotated(app(), { keepPrevious: true })
      const withoutPrevious = await rotated(app(), { keepPrevious: false })
      try {
        const [signedIn, session] = await secondStep(withPrevious.auth, user, { code: totpCode(secret, clock) })
        expect(signedIn.status, JSON.stringify(session)).toBe(200)
        const [account] = await call(withPrevious.auth, 'GET', '/api/v1/account', { token: session.token })
        expect(account.status).toBe(200)
        expect(await sealedSeed(app(), user.id)).not.toBe(sealedBefore)

        // Sealed again, the seed no longer needs the previous secret.
        clock.advance(30_000)
        const [again, againBody] = await secondStep(withoutPrevious.auth, user, { code: totpCode(secret, clock) })
        expect(again.status, JSON.stringify(againBody)).toBe(200)

        // A recovery code is only a hash, which cannot be made again: those made before need the previous secret.
        const [recovered, recoveredBody] = await secondStep(withPrevious.auth, user, { recovery_code: recoveryCodes[0]! })
        expect(recovered.status, JSON.stringify(recoveredBody)).toBe(200)
        const [oldCode, oldCodeBody] = await secondStep(withoutPrevious.auth, user, { recovery_code: recoveryCodes[1]! })
        expect(oldCode.status).toBe(401)
        expect(oldCodeBody.error.code).toBe('invalid_code')
        // New codes are hashed under the new secret. Both processes sign sessions with it.
        clock.advance(30_000)
        const [renewed, renewedBody] = await call(withoutPrevious.auth, 'POST', '/api/v1/auth/2fa/recovery-codes', {
          token: session.token,
          body: { password: user.password, code: totpCode(secret, clock) },
        })
        expect(renewed.status, JSON.stringify(renewedBody)).toBe(200)
        const [newCode] = await secondStep(withoutPrevious.auth, user, { recovery_code: renewedBody.recovery_codes[0] })
        expect(newCode.status).toBe(200)
      } finally {
        await withPrevious.close()
        await withoutPrevious.close()
      }
    })
  },
  { clock },
)
