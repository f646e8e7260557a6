import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/**
 * Secrets the server must read back (authenticator-app seeds, webhook signing keys) are kept
 * sealed: AES-256-GCM under a key derived from the server secret for one purpose, so a copy of
 * the database alone gives nobody the codes or the signatures. Rotating the server secret makes
 * them unreadable; `openSealed` then throws `SealedUnreadable`.
 */

export class SealedUnreadable extends Error {}

interface Keys {
  hmacKey(purpose: string): Buffer
}

export function seal(keys: Keys, purpose: string, plaintext: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', keys.hmacKey(purpose), iv)
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.')
}

export function openSealed(keys: Keys, purpose: string, stored: string): string {
  const [version, iv, tag, data] = stored.split('.')
  if (version !== 'v1' || !iv || !tag || !data) throw new SealedUnreadable(`not a sealed ${purpose}`)
  try {
    const decipher = createDecipheriv('aes-256-gcm', keys.hmacKey(purpose), Buffer.from(iv, 'base64url'))
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8')
  } catch {
    throw new SealedUnreadable(`the ${purpose} was sealed under another server secret`)
  }
}
