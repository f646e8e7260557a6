import { createHmac, randomBytes } from 'node:crypto'
import { Secret, TOTP } from 'otpauth'
import type { AppContext } from '#core/context.ts'
import { openSealed, seal } from '#core/sealed.ts'

/**
 * RFC 6238 with the parameters every authenticator app supports: SHA-1, 6 digits, 30 s. One
 * step either side is accepted for clock drift between the phone and the server.
 */
const PERIOD = 30
const DRIFT_STEPS = 1

const totpFor = (ctx: AppContext, secret: Secret, label: string) =>
  new TOTP({ issuer: ctx.config.webauthn.rpName, label, secret, algorithm: 'SHA1', digits: 6, period: PERIOD })

/** A fresh 160-bit secret (RFC 4226 §4 recommends 160 bits) and the otpauth:// URI apps scan. */
export function newTotpSecret(ctx: AppContext, label: string) {
  const secret = new Secret({ size: 20 })
  return { base32: secret.base32, uri: totpFor(ctx, secret, label).toString() }
}

/**
 * The time step a code belongs to, or null when it matches none within the drift window.
 * The caller must still take the step (repo.takeTotpStep) so a code works once.
 */
export function matchTotpStep(ctx: AppContext, base32: string, code: string): number | null {
  const token = code.replace(/\s+/g, '')
  if (!/^\d{6}$/.test(token)) return null
  const totp = totpFor(ctx, Secret.fromBase32(base32), 'check')
  const timestamp = ctx.clock.now().getTime()
  const delta = totp.validate({ token, timestamp, window: DRIFT_STEPS })
  return delta === null ? null : totp.counter({ timestamp }) + delta
}

// Secrets at rest are sealed (src/sealed.ts): a copy of the database alone does not give anyone the codes.

export const encryptTotpSecret = (ctx: AppContext, base32: string) => seal(ctx, 'totp-secret', base32)

export const openTotpSecret = (ctx: AppContext, stored: string) => openSealed(ctx, 'totp-secret', stored)

// Recovery codes

export const RECOVERY_CODE_COUNT = 10
/** Without 0/o, 1/l/i: codes are read off paper. */
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'

/** Ten codes like "k7xq4-m2pvd": 10 characters of a 31-letter alphabet, about 50 bits each. */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    let out = ''
    while (out.length < 10) {
      for (const byte of randomBytes(16)) {
        // 248 = 8 × 31: below it the modulo is unbiased.
        if (byte < 248 && out.length < 10) out += RECOVERY_ALPHABET[byte % 31]
      }
    }
    return `${out.slice(0, 5)}-${out.slice(5)}`
  })
}

/** Case, spaces and dashes do not matter when a person types a code back. */
export const normalizeRecoveryCode = (code: string) => code.toLowerCase().replace(/[\s-]+/g, '')

/** Only an HMAC is stored: the codes have enough entropy that a fast keyed hash is enough. */
export const hashRecoveryCode = (ctx: AppContext, code: string) => recoveryCodeHash(ctx.hmacKey('recovery-code'), code)

/** What a typed code may be stored as: its hash under the server secret, and under JWT_SECRET_PREVIOUS when set. */
export const recoveryCodeHashes = (ctx: AppContext, code: string) => ctx.hmacKeys('recovery-code').map((key) => recoveryCodeHash(key, code))

const recoveryCodeHash = (key: Buffer, code: string) => createHmac('sha256', key).update(normalizeRecoveryCode(code)).digest('hex')
