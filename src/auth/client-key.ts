import { type KeyObject, createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'

/** A private key the server signs with, and the JWS algorithm its kind signs with. */
export interface SigningKey {
  key: KeyObject
  alg: string
}

/** Why a key file cannot be used; the config names the setting that pointed at it. */
export class UnusableKeyFile extends Error {}

/** The JWS algorithm each kind of private key signs with; undefined for a kind that cannot sign a JWS. */
function algorithmOf(key: KeyObject): string | undefined {
  if (key.asymmetricKeyType === 'rsa') return 'RS256'
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA'
  if (key.asymmetricKeyType === 'ec') return { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[key.asymmetricKeyDetails?.namedCurve ?? '']
  return undefined
}

/** A PEM private key file (PKCS#8, PKCS#1 or SEC1) read once, at start. */
export function readSigningKey(path: string): SigningKey {
  let key: KeyObject
  try {
    key = createPrivateKey(readFileSync(path))
  } catch (error) {
    throw new UnusableKeyFile((error as { code?: string }).code === 'ENOENT' ? 'no such file' : 'not an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)')
  }
  const alg = algorithmOf(key)
  if (!alg) throw new UnusableKeyFile('must be an RSA, EC (P-256, P-384, P-521) or Ed25519 key')
  return { key, alg }
}
