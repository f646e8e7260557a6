import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import PostalMime from 'postal-mime'

/**
 * The verification link mailed to `email`. Without SMTP each mail is an .eml file under
 * DATA_DIR/mail; this waits for the one sent to `email` and reads its link.
 */
export async function findVerificationLink(dataDir: string, email: string, timeoutMs = 15_000): Promise<string> {
  const dir = join(dataDir, 'mail')
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      const mail = await PostalMime.parse(readFileSync(join(dir, name)))
      if (mail.to?.[0]?.address?.toLowerCase() !== email.toLowerCase()) continue
      const link = /https?:\/\/[^\s"<>]+\/api\/v1\/auth\/verify-email\?token=[0-9A-Za-z]+/.exec(mail.text ?? '')?.[0]
      if (link) return link
    }
    await Bun.sleep(100)
  }
  throw new Error(`no verification mail to ${email} under ${dir} within ${timeoutMs} ms`)
}

/**
 * API keys need a verified address: follows the mailed link against `authBase`, the address the
 * process really listens on (the link names the configured public URL). Used by the benchmarks
 * and the binary test, which drive a real process from outside.
 */
export async function verifyFromMailDir(dataDir: string, email: string, authBase: string, timeoutMs = 15_000): Promise<void> {
  const url = new URL(await findVerificationLink(dataDir, email, timeoutMs))
  const response = await fetch(new URL(url.pathname + url.search, authBase), { redirect: 'manual' })
  if (response.status >= 400) throw new Error(`verification link for ${email}: ${response.status} ${await response.text()}`)
}
