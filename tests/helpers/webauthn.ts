import { type KeyObject, createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto'

/**
 * A software WebAuthn authenticator: an ES256 (P-256) key pair per credential, 'none'
 * attestation, and the authenticatorData, clientDataJSON and signature a browser and a real
 * authenticator would produce (WebAuthn Level 2 §6.1, §6.5.4, §8.7). Enough for HTTP tests to
 * register passkeys and sign in with them without a browser.
 */

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url')
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest()

// The little of CBOR (RFC 8949) attestation objects and COSE keys need.
type Cbor = number | string | Uint8Array | Map<Cbor, Cbor>
function head(major: number, value: number): Buffer {
  if (value < 24) return Buffer.from([(major << 5) | value])
  if (value < 256) return Buffer.from([(major << 5) | 24, value])
  if (value < 65536) return Buffer.from([(major << 5) | 25, value >> 8, value & 0xff])
  const out = Buffer.alloc(5)
  out[0] = (major << 5) | 26
  out.writeUInt32BE(value, 1)
  return out
}
export function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value)
  if (typeof value === 'string') return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)])
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)])
  return Buffer.concat([head(5, value.size), ...[...value].flatMap(([k, v]) => [cbor(k), cbor(v)])])
}

const FLAG_UP = 0x01
const FLAG_UV = 0x04
const FLAG_AT = 0x40

export interface SoftCredential {
  id: Uint8Array
  privateKey: KeyObject
  rpId: string
  userHandle: string
  signCount: number
}

export interface SoftAuthenticatorOptions {
  origin: string
  /** Report user verification (PIN/biometrics) in the flags; a passwordless sign-in needs it. */
  userVerified?: boolean
  /** Keep a signature counter (true) or report 0 always, as synced passkeys do. */
  counter?: boolean
}

/** What a PublicKeyCredential carries besides its response, the same for create() and get(). */
const publicKeyCredential = (credential: SoftCredential) => ({
  id: b64url(credential.id),
  rawId: b64url(credential.id),
  type: 'public-key' as const,
  authenticatorAttachment: 'platform' as const,
  clientExtensionResults: {},
})

export function softAuthenticator(options: SoftAuthenticatorOptions) {
  const credentials: SoftCredential[] = []
  const flags = (extra = 0) => FLAG_UP | (options.userVerified === false ? 0 : FLAG_UV) | extra
  const clientData = (type: string, challenge: string, origin = options.origin) =>
    Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }))
  const counterBytes = (credential: SoftCredential) => {
    if (options.counter !== false) credential.signCount++
    const out = Buffer.alloc(4)
    out.writeUInt32BE(options.counter === false ? 0 : credential.signCount)
    return out
  }

  return {
    credentials,
    /** navigator.credentials.create() for PublicKeyCredentialCreationOptionsJSON, answered as RegistrationResponseJSON. */
    create(creation: { challenge: string; rp: { id?: string }; user: { id: string } }, override: { origin?: string } = {}) {
      const rpId = creation.rp.id!
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const jwk = publicKey.export({ format: 'jwk' })
      const credential: SoftCredential = { id: randomBytes(32), privateKey, rpId, userHandle: creation.user.id, signCount: 0 }
      const coseKey = cbor(new Map<Cbor, Cbor>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]))
      const idLength = Buffer.alloc(2)
      idLength.writeUInt16BE(credential.id.length)
      const authData = Buffer.concat([sha256(rpId), Buffer.from([flags(FLAG_AT)]), counterBytes(credential), Buffer.alloc(16), idLength, credential.id, coseKey])
      const attestationObject = cbor(new Map<Cbor, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]))
      credentials.push(credential)
      return {
        ...publicKeyCredential(credential),
        response: {
          clientDataJSON: b64url(clientData('webauthn.create', creation.challenge, override.origin)),
          attestationObject: b64url(attestationObject),
          transports: ['internal'],
        },
      }
    },
    /**
     * navigator.credentials.get(): signs with the first credential the options allow (any, for
     * a discoverable request), answered as AuthenticationResponseJSON.
     */
    get(request: { challenge: string; rpId?: string; allowCredentials?: { id: string }[] }, override: { origin?: string; credential?: SoftCredential } = {}) {
      const allowed = request.allowCredentials?.map((c) => c.id) ?? []
      const credential =
        override.credential ?? credentials.find((c) => c.rpId === request.rpId && (allowed.length === 0 || allowed.includes(b64url(c.id))))
      if (!credential) throw new Error('no credential for this request')
      const authData = Buffer.concat([sha256(credential.rpId), Buffer.from([flags()]), counterBytes(credential)])
      const clientDataJSON = clientData('webauthn.get', request.challenge, override.origin)
      const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), credential.privateKey)
      return {
        ...publicKeyCredential(credential),
        response: {
          clientDataJSON: b64url(clientDataJSON),
          authenticatorData: b64url(authData),
          signature: b64url(signature),
          userHandle: credential.userHandle,
        },
      }
    },
  }
}
