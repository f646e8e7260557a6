import type { AddressInfo } from 'node:net'
import PostalMime from 'postal-mime'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail {
  /** RCPT TO addresses, as the SMTP envelope had them. */
  to: string[]
  from: string
  subject: string
  text: string
  html: string
  /** Every http(s) link in the plain-text part, in order. */
  links: string[]
  raw: string
}

export interface SmtpSink {
  port: number
  /** Point a test app's SMTP settings here. */
  env: Record<string, string>
  messages: ReceivedMail[]
  /** Refuse the next `count` deliveries with a temporary error (451), as a struggling relay would. */
  failNext(count: number): void
  /** Deliveries refused so far. */
  readonly refused: number
  /** The first mail (already received or still to come) that matches, or a timeout error. */
  waitFor(match: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>
  /** Waits until `count` mails match, and returns them in arrival order. */
  waitForCount(match: (mail: ReceivedMail) => boolean, count: number, timeoutMs?: number): Promise<ReceivedMail[]>
  stop(): Promise<void>
}

/** A real SMTP server on loopback (smtp-server), parsing every mail it accepts with postal-mime. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const messages: ReceivedMail[] = []
  const listeners = new Set<() => void>()
  let toRefuse = 0
  let refused = 0
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        if (toRefuse > 0) {
          toRefuse--
          refused++
          return callback(Object.assign(new Error('Try again later'), { responseCode: 451 }))
        }
        const raw = Buffer.concat(chunks).toString('utf8')
        PostalMime.parse(raw).then(
          (email) => {
            const text = email.text ?? ''
            messages.push({
              to: session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase()),
              from: email.from?.address ?? '',
              subject: email.subject ?? '',
              text,
              html: email.html ?? '',
              links: text.match(/https?:\/\/[^\s<>"]+/g) ?? [],
              raw,
            })
            for (const listener of listeners) listener()
            callback()
          },
          (error) => callback(error),
        )
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const port = ((server as unknown as { server: { address(): AddressInfo } }).server.address()).port
  const sink: SmtpSink = {
    port,
    env: { SMTP_HOST: '127.0.0.1', SMTP_PORT: String(port), SMTP_SECURE: 'false', SMTP_FROM: 'imghost test <noreply@imghost.test>' },
    messages,
    failNext(count) {
      toRefuse = count
    },
    get refused() {
      return refused
    },
    async waitFor(match, timeoutMs = 15_000) {
      return (await sink.waitForCount(match, 1, timeoutMs))[0]!
    },
    waitForCount(match, count, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.filter(match)
          if (found.length < count) return false
          listeners.delete(check)
          clearTimeout(timer)
          resolve(found)
          return true
        }
        const timer = setTimeout(() => {
          listeners.delete(check)
          reject(new Error(`fewer than ${count} matching mails within ${timeoutMs} ms; received: ${JSON.stringify(messages.map((m) => [m.to, m.subject]))}`))
        }, timeoutMs)
        listeners.add(check)
        check()
      })
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
  return sink
}

/** The mail to `address` whose subject matches. */
export const mailTo = (address: string, subject: RegExp) => (mail: ReceivedMail) =>
  mail.to.includes(address.toLowerCase()) && subject.test(mail.subject)
