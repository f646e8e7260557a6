import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../config.ts'
import type { Logger } from '../logger.ts'

/** One rendered mail: both bodies, and the links in it (never logged: they carry live tokens). */
export interface OutgoingMail {
  to: string
  subject: string
  text: string
  html: string
  links: string[]
}

export interface Mailer {
  /**
   * Queues the mail and returns at once: a mail that cannot be sent never fails the request
   * that caused it. Failures are retried with back-off and logged.
   */
  send(mail: OutgoingMail): void
  /** Resolves once every queued mail has been delivered or given up on (tests, shutdown). */
  idle(): Promise<void>
  /** Waits for queued mails, then releases the SMTP connection. */
  close(): Promise<void>
  /** 'smtp' when SMTP_HOST is set, else 'file' (.eml files under DATA_DIR/mail). */
  readonly transport: 'smtp' | 'file'
}

export interface MailerOptions {
  /** Pause before each retry; the number of entries is the number of retries. */
  retryDelaysMs?: number[]
}

const DEFAULT_RETRY_DELAYS_MS = [2_000, 15_000, 60_000]

type Deliver = (mail: OutgoingMail) => Promise<void>

/**
 * nodemailer's transport, made on the first mail: loading nodemailer costs about 0.08 s of
 * start-up for something most processes do seldom, if ever. The module loader keeps it.
 */
function lazyTransport<T extends { close(): void }>(make: (mailer: typeof import('nodemailer')) => T): { get(): Promise<T>; close(): void } {
  let transport: Promise<T> | undefined
  return {
    get: () => (transport ??= import('nodemailer').then((module) => make(module.default))),
    close: () => void transport?.then((made) => made.close(), () => {}),
  }
}

function smtpDelivery(config: Config, smtp: NonNullable<Config['smtp']>): { deliver: Deliver; close(): void } {
  const transporter = lazyTransport((nodemailer) => nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    auth: smtp.user ? { user: smtp.user, pass: smtp.pass ?? '' } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  }))
  return {
    deliver: async (mail) => {
      await (await transporter.get()).sendMail({ from: config.mailFrom, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html })
    },
    close: () => transporter.close(),
  }
}

/**
 * Without SMTP a self-hoster still gets the mail: the full message as an .eml file (mode 0600).
 * The log says where it is, never its links: they are live reset and verification tokens, and
 * logs travel to places (shippers, support tickets) an owner-only file does not.
 */
function fileDelivery(config: Config, log: Logger): { deliver: Deliver; close(): void } {
  const dir = join(config.dataDir, 'mail')
  const transporter = lazyTransport((nodemailer) => nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }))
  return {
    deliver: async (mail) => {
      const info = await (await transporter.get()).sendMail({ from: config.mailFrom, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html })
      mkdirSync(dir, { recursive: true })
      const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${crypto.randomUUID().slice(0, 8)}.eml`)
      writeFileSync(file, info.message as Buffer, { mode: 0o600 })
      log.info({ msg: 'mail written to disk (no SMTP configured)', to: mail.to, subject: mail.subject, file })
    },
    close: () => transporter.close(),
  }
}

export function createMailer(config: Config, log: Logger, options: MailerOptions = {}): Mailer {
  const retryDelays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS
  const delivery = config.smtp ? smtpDelivery(config, config.smtp) : fileDelivery(config, log)
  const inFlight = new Set<Promise<void>>()
  /** Pending retry pauses: shutdown ends them early. */
  const pauses = new Map<ReturnType<typeof setTimeout>, () => void>()
  let closing = false

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => (pauses.delete(timer), resolve()), ms)
      pauses.set(timer, resolve)
    })

  async function deliverWithRetries(mail: OutgoingMail) {
    for (let attempt = 0; ; attempt++) {
      try {
        await delivery.deliver(mail)
        if (attempt > 0) log.info({ msg: 'mail delivered after retry', to: mail.to, subject: mail.subject, attempt: attempt + 1 })
        return
      } catch (error) {
        const retryIn = retryDelays[attempt]
        const last = retryIn === undefined || closing
        log[last ? 'error' : 'warn']({
          msg: last ? 'mail not delivered; giving up' : 'mail delivery failed; will retry',
          to: mail.to,
          subject: mail.subject,
          attempt: attempt + 1,
          error: String(error),
          ...(last ? {} : { retry_in_ms: retryIn }),
        })
        if (last) return
        await sleep(retryIn)
      }
    }
  }

  return {
    transport: config.smtp ? 'smtp' : 'file',
    send(mail) {
      const task = deliverWithRetries(mail).finally(() => inFlight.delete(task))
      inFlight.add(task)
    },
    async idle() {
      while (inFlight.size > 0) await Promise.all([...inFlight])
    },
    async close() {
      // At shutdown a pending retry is tried once more at once rather than waited for.
      closing = true
      for (const [timer, resume] of pauses) clearTimeout(timer), resume()
      pauses.clear()
      let giveUp: ReturnType<typeof setTimeout> | undefined
      await Promise.race([this.idle(), new Promise((resolve) => (giveUp = setTimeout(resolve, 10_000)))])
      clearTimeout(giveUp)
      delivery.close()
    },
  }
}
