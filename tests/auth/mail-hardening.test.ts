import { expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import PostalMime from 'postal-mime'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'
import { recordingLogger } from '../helpers/flows.ts'

// No SMTP here: mail goes to .eml files under DATA_DIR/mail, the case where links used to be logged.
const log = recordingLogger()

describeEachBackend(
  'mail hardening',
  (app) => {
    test('reset links in logs: a mail written to disk is logged by file, subject and recipient, never by its links', async () => {
      const user = await registerUser(app().auth)
      const [asked] = await call(app().auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: user.email } })
      expect(asked.status).toBe(202)

      // The link is made and mailed after the answer (its timing must not tell a real account).
      const dir = join(app().dataDir, 'mail')
      const resetMail = async () => {
        await app().ctx.mailer.idle()
        const mails = await Promise.all(readdirSync(dir).map(async (name) => ({ file: join(dir, name), mail: await PostalMime.parse(readFileSync(join(dir, name))) })))
        return mails.find(({ mail }) => mail.subject === 'Reset your password' && mail.to?.[0]?.address === user.email)
      }
      let reset = await resetMail()
      for (const deadline = Date.now() + 10_000; !reset && Date.now() < deadline; reset = await resetMail()) await Bun.sleep(50)
      expect(reset).toBeDefined()
      const token = /reset-password\?token=([0-9A-Za-z]+)/.exec(reset!.mail.text ?? '')?.[1]
      expect(token).toBeString()

      expect(log.entries).toContainEqual(
        expect.objectContaining({ level: 'info', msg: 'mail written to disk (no SMTP configured)', to: user.email, subject: 'Reset your password', file: reset!.file }),
      )
      const logged = JSON.stringify(log.entries)
      expect(logged).not.toContain(token!)
      expect(logged).not.toContain('token=')
    })

    test('email change floods mail: at most 5 confirmation mails an hour per account, shared with their resend, then 429', async () => {
      const user = await registerUser(app().auth)
      const change = (n: number) => call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { email: `${user.username}.${n}@example.net`, current_password: user.password } })
      for (let n = 1; n <= 5; n++) expect((await change(n))[0].status).toBe(200)
      const [refused, body] = await change(6)
      expect(refused.status).toBe(429)
      expect(body.error).toEqual({ code: 'too_many_requests', message: expect.stringMatching(/^Too many confirmation mails for a new address; try again in \d+ minutes?$/) })
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
      const [, account] = await call(app().auth, 'GET', '/api/v1/account', { token: user.token })
      expect(account.user).toMatchObject({ email: user.email, pending_email: `${user.username}.5@example.net` })
      // The change's resend draws on the same hourly budget; the current address's verification link has its own.
      const [resend, resendBody] = await call(app().auth, 'POST', '/api/v1/account/pending-email/resend', { token: user.token })
      expect(resend.status).toBe(429)
      expect(resendBody.error.message).toStartWith('Too many confirmation mails for a new address; ')
      expect((await call(app().auth, 'POST', '/api/v1/auth/verify-email/resend', { token: user.token }))[0].status).toBe(200)
      // Other changes are not throttled.
      expect((await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { first_name: 'Still' } }))[0].status).toBe(200)

      await app().ctx.mailer.idle()
      const dir = join(app().dataDir, 'mail')
      const mails = await Promise.all(readdirSync(dir).map(async (name) => PostalMime.parse(readFileSync(join(dir, name)))))
      const sentToNew = mails.filter((mail) => mail.subject === 'Confirm your new address for imghost' && mail.to?.[0]?.address?.startsWith(`${user.username}.`))
      expect(sentToNew).toHaveLength(5)
    })

    test('"send the link again" spends its own budget: the 429 names verification mails, and the address can still be corrected', async () => {
      const user = await registerUser(app().auth)
      const resend = () => call(app().auth, 'POST', '/api/v1/auth/verify-email/resend', { token: user.token })
      for (let n = 1; n <= 5; n++) expect((await resend())[0].status).toBe(200)
      const [refused, body] = await resend()
      expect(refused.status).toBe(429)
      expect(body.error).toEqual({ code: 'too_many_requests', message: expect.stringMatching(/^Too many verification mails; try again in \d+ minutes?$/) })
      const corrected = `${user.username}.corrected@example.net`
      const [changed, changedBody] = await call(app().auth, 'PUT', '/api/v1/account', { token: user.token, body: { email: corrected, current_password: user.password } })
      expect(changed.status, JSON.stringify(changedBody)).toBe(200)
      expect(changedBody.user).toMatchObject({ email: user.email, pending_email: corrected })
    })
  },
  { log },
)
