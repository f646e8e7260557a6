import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import PostalMime from 'postal-mime'
import { parseConfig } from '#core/config.ts'
import { createMailer } from '#core/mail/index.ts'
import { renderMail } from '#core/mail/templates.ts'
import { mailTo, startSmtpSink } from '../helpers/smtp.ts'
import { recordingLogger } from '../helpers/flows.ts'

const smtp = await startSmtpSink()
const dataDir = mkdtempSync(join(tmpdir(), 'imghost-mailer-'))
afterAll(async () => {
  await smtp.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

/** A port nothing listens on: bind one, then let it go. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const sample = (to: string, subject: string) => ({ to, subject, text: `Hello\nhttps://example.test/${subject}`, html: '<p>Hello</p>', links: [`https://example.test/${subject}`] })

describe('mailer', () => {
  test('SMTP: a delivery the relay refuses is retried, logged, and then arrives', async () => {
    const log = recordingLogger()
    const mailer = createMailer(parseConfig({ ...smtp.env, DATA_DIR: dataDir }), log, { retryDelaysMs: [50, 50] })
    expect(mailer.transport).toBe('smtp')
    smtp.failNext(1)
    const refusedBefore = smtp.refused
    mailer.send(sample('retry@example.com', 'retry-me'))
    await mailer.idle()
    const mail = await smtp.waitFor(mailTo('retry@example.com', /retry-me/))
    expect(smtp.refused).toBe(refusedBefore + 1)
    expect(mail.from).toBe('noreply@imghost.test')
    expect(mail.links).toEqual(['https://example.test/retry-me'])
    expect(log.entries.map((e) => e.msg)).toEqual(['mail delivery failed; will retry', 'mail delivered after retry'])
    await mailer.close()
  })

  test('SMTP unreachable: send() never throws; each retry is logged, then it gives up with an error', async () => {
    const log = recordingLogger()
    const mailer = createMailer(parseConfig({ SMTP_HOST: '127.0.0.1', SMTP_PORT: String(await closedPort()), DATA_DIR: dataDir }), log, {
      retryDelaysMs: [20, 20],
    })
    expect(() => mailer.send(sample('nobody@example.com', 'lost'))).not.toThrow()
    await mailer.idle()
    expect(log.entries.filter((e) => e.level === 'warn' && e.msg === 'mail delivery failed; will retry')).toHaveLength(2)
    const last = log.entries.at(-1)!
    expect(last).toMatchObject({ level: 'error', msg: 'mail not delivered; giving up', to: 'nobody@example.com', attempt: 3 })
    await mailer.close()
  })

  test('without SMTP: the mail is an .eml under DATA_DIR/mail; the log names the file and subject, not the links', async () => {
    const log = recordingLogger()
    const dir = mkdtempSync(join(tmpdir(), 'imghost-mail-files-'))
    try {
      const mailer = createMailer(parseConfig({ DATA_DIR: dir }), log)
      expect(mailer.transport).toBe('file')
      const mail = renderMail({
        to: 'eve@example.com',
        name: 'Eve <b>&</b>',
        subject: 'Confirm your email address',
        paragraphs: ['Please confirm.'],
        action: { label: 'Confirm my email', url: 'http://localhost:5001/api/v1/auth/verify-email?token=abc' },
      })
      mailer.send(mail)
      await mailer.idle()
      const files = readdirSync(join(dir, 'mail'))
      expect(files).toHaveLength(1)
      const parsed = await PostalMime.parse(readFileSync(join(dir, 'mail', files[0]!)))
      expect(parsed.to?.[0]?.address).toBe('eve@example.com')
      expect(parsed.subject).toBe('Confirm your email address')
      expect(parsed.text).toContain('http://localhost:5001/api/v1/auth/verify-email?token=abc')
      // User text is escaped in the HTML part, kept as text in the plain part.
      expect(parsed.html).toContain('Hello Eve &lt;b&gt;&amp;&lt;/b&gt;,')
      expect(parsed.html).not.toContain('<b>&</b>')
      expect(parsed.text).toContain('Hello Eve <b>&</b>,')
      expect(log.entries).toContainEqual(
        expect.objectContaining({
          level: 'info',
          msg: 'mail written to disk (no SMTP configured)',
          subject: 'Confirm your email address',
          file: join(dir, 'mail', files[0]!),
        }),
      )
      expect(JSON.stringify(log.entries)).not.toContain('token=abc')
      await mailer.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('close() at shutdown cuts a pending retry pause short instead of waiting it out', async () => {
    const log = recordingLogger()
    const mailer = createMailer(parseConfig({ ...smtp.env, DATA_DIR: dataDir }), log, { retryDelaysMs: [60_000] })
    smtp.failNext(1)
    mailer.send(sample('late@example.com', 'at-shutdown'))
    while (log.entries.length === 0) await Bun.sleep(10)
    const started = Date.now()
    await mailer.close()
    expect(Date.now() - started).toBeLessThan(10_000)
    await smtp.waitFor(mailTo('late@example.com', /at-shutdown/))
  })
})
