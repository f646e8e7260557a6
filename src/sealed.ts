import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/**
 * Secrets the server must read back (authenticator-app seeds, webhook signing keys) are kept
 * sealed: AES-256-GCM under a key derived from the server secret for one purpose, so a copy of
 * the database alone gives nobody the codes or the signatures. After a rotation of the server
 * secret, what was sealed under the old one opens only while it is JWT_SECRET_PREVIOUS, and comes
 * back with a seal under the new one for the caller to store; otherwise `openSealed` throws
 * `SealedUnreadable`.
 */

export class SealedUnreadable extends Error {}

export interface SealingKeys {
  hmacKey(purpose: string): Buffer
}

export interface OpeningKeys extends SealingKeys {
  /** The current key first, then the previous secret's. */
  hmacKeys(purpose: string): Buffer[]
}

export interface Opened {
  value: string
  /** Set when the value was sealed under JWT_SECRET_PREVIOUS: the same value sealed under the current secret. */
  resealed?: string
}

export function seal(keys: SealingKeys, purpose: string, plaintext: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', keys.hmacKey(purpose), iv)
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.')
}

export function openSealed(keys: OpeningKeys, purpose: string, stored: string): Opened {
  const [version, iv, tag, data] = stored.split('.')
  if (version !== 'v1' || !iv || !tag || !data) throw new SealedUnreadable(`not a sealed ${purpose}`)
  for (const [index, key] of keys.hmacKeys(purpose).entries()) {
    const value = openWith(key, iv, tag, data)
    if (value === undefined) continue
    return index === 0 ? { value } : { value, resealed: seal(keys, purpose, value) }
  }
  throw new SealedUnreadable(`the ${purpose} was sealed under another server secret`)
}

function openWith(key: Buffer, iv: string, tag: string, data: string): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}
