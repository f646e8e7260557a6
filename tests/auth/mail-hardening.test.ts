import { expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import PostalMime from 'postal-mime'
import { call, describeEachBackend, registerUser } from '../helpers/index.ts'
import { recordingLogger } from '../lifecycle/support.ts'

// No SMTP here: mail goes to .eml files under DATA_DIR/mail, the case where links used to be logged.
const log = recordingLogger()

describeEachBackend(
  'mail hardening',
  (app) => {
    test('reset links in logs: a mail written to disk is logged by file, subject and recipient, never by its links', async () => {
      const user = await registerUser(app().auth)
      const [asked] = await call(app().auth, 'POST', '/api/v1/auth/forgot-password', { body: { email: user.email } })
      expect(asked.status).toBe(202)
      await app().ctx.mailer.idle()

      const dir = join(app().dataDir, 'mail')
      const mails = await Promise.all(readdirSync(dir).map(async (name) => ({ file: join(dir, name), mail: await PostalMime.parse(readFileSync(join(dir, name))) })))
      const reset = mails.find(({ mail }) => mail.subject === 'Reset your password' && mail.to?.[0]?.address === user.email)
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
  },
  { log },
)
