import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import PostalMime from 'postal-mime'

/**
 * A link to `path` (`/api/v1/auth/verify-email`, `/api/v1/account/confirm-email`) with its token,
 * mailed to `email`. Without SMTP each mail is an .eml file under DATA_DIR/mail; this waits for
 * one sent to `email` holding such a link.
 */
export async function findMailedLink(dataDir: string, email: string, path: string, timeoutMs = 15_000): Promise<string> {
  const dir = join(dataDir, 'mail')
  const pattern = new RegExp(`https?://[^\\s"<>]+${path.replace(/[.?]/g, '\\$&')}\\?token=[0-9A-Za-z]+`)
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      const mail = await PostalMime.parse(readFileSync(join(dir, name)))
      if (mail.to?.[0]?.address?.toLowerCase() !== email.toLowerCase()) continue
      const link = pattern.exec(mail.text ?? '')?.[0]
      if (link) return link
    }
    await Bun.sleep(100)
  }
  throw new Error(`no mail to ${email} linking to ${path} under ${dir} within ${timeoutMs} ms`)
}

/** The verification link mailed to `email` on registration. */
export const findVerificationLink = (dataDir: string, email: string, timeoutMs = 15_000) => findMailedLink(dataDir, email, '/api/v1/auth/verify-email', timeoutMs)

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

/**
 * A new account on a real process, its address verified, and an API key: what uploading from
 * outside needs. `name` is the username, the mailbox's local part and the key's name.
 */
export async function signUpWithApiKey(authBase: string, dataDir: string, name: string): Promise<{ token: string; apiKey: string }> {
  const email = `${name}@example.com`
  const registered = await fetch(`${authBase}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ first_name: name, username: name, email, password: 'long enough pw' }),
  })
  if (registered.status !== 201) throw new Error(`register ${name}: ${registered.status} ${await registered.text()}`)
  const { token } = (await registered.json()) as { token: string }
  await verifyFromMailDir(dataDir, email, authBase)
  const created = await fetch(`${authBase}/api/v1/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ key_name: name }),
  })
  if (created.status !== 201) throw new Error(`API key for ${name}: ${created.status} ${await created.text()}`)
  return { token, apiKey: ((await created.json()) as { api_key: { key: string } }).api_key.key }
}
