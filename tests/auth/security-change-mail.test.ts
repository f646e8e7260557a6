import { expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import PostalMime from 'postal-mime'
import { manualClock } from '#core/clock.ts'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'
import { enableTotp, totpCode } from '../helpers/two-factor.ts'
import { softAuthenticator } from '../helpers/webauthn.ts'

const clock = manualClock(new Date('2026-12-02T10:00:15Z'))
const SUBJECT = 'A sign-in setting of your account changed'

describeEachBackend(
  'mail on sign-in setting changes',
  (app) => {
    /** The texts of the security mails this address got, oldest first (no SMTP here: .eml files). */
    async function securityMails(email: string) {
      await app().ctx.mailer.idle()
      const dir = join(app().dataDir, 'mail')
      const mails = await Promise.all(readdirSync(dir).sort().map((name) => PostalMime.parse(readFileSync(join(dir, name)))))
      return mails.filter((mail) => mail.subject === SUBJECT && mail.to?.[0]?.address === email).map((mail) => mail.text ?? '')
    }

    test('turning an authenticator app on and off, and new recovery codes, each mail the owner', async () => {
      const user = await registerUser(app().auth)
      expect(await securityMails(user.email)).toEqual([])
      const { secret } = await enableTotp(app().auth, user.token, clock)
      clock.advance(30_000)
      const [regenerated] = await call(app().auth, 'POST', '/api/v1/auth/2fa/recovery-codes', { token: user.token, body: { password: user.password, code: totpCode(secret, clock) } })
      expect(regenerated.status).toBe(200)
      clock.advance(30_000)
      // A refused attempt changes nothing and mails nothing.
      const [refused] = await call(app().auth, 'POST', '/api/v1/auth/2fa/disable', { token: user.token, body: { password: 'not the password', code: totpCode(secret, clock) } })
      expect(refused.status).toBe(403)
      const [disabled] = await call(app().auth, 'POST', '/api/v1/auth/2fa/disable', { token: user.token, body: { password: user.password, code: totpCode(secret, clock) } })
      expect(disabled.status).toBe(200)

      const texts = await securityMails(user.email)
      expect(texts).toHaveLength(3)
      expect(texts[0]).toContain('An authenticator app was set up')
      expect(texts[1]).toContain('New recovery codes were made')
      expect(texts[2]).toContain('Two-factor authentication was turned off')
      for (const text of texts) {
        expect(text).toContain(`${app().config.publicUrls.auth}/security`)
        expect(text).toContain('change your password at once')
      }
    })

    test('adding and removing a passkey mail the owner, naming it', async () => {
      const user = await registerUser(app().auth)
      const authenticator = softAuthenticator({ origin: app().config.webauthn.origins[0]! })
      const [, start] = await call(app().auth, 'POST', '/api/v1/auth/passkeys/options', { token: user.token })
      const [added, body] = await call(app().auth, 'POST', '/api/v1/auth/passkeys', {
        token: user.token,
        body: { challenge_token: start.challenge_token, name: 'Work laptop', response: authenticator.create(start.options) },
      })
      expect(added.status, JSON.stringify(body)).toBe(201)
      const [removed] = await call(app().auth, 'DELETE', `/api/v1/auth/passkeys/${body.passkey.id}`, { token: user.token, body: { password: user.password } })
      expect(removed.status).toBe(200)

      const texts = await securityMails(user.email)
      expect(texts).toHaveLength(2)
      expect(texts[0]).toContain('A passkey ("Work laptop") was added')
      expect(texts[1]).toContain('A passkey ("Work laptop") was removed')
      expect(texts[1]).toContain('two-factor authentication is now off')
    })
  },
  { clock },
)
