import { createHmac, randomBytes } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import { type Opened, type OpeningKeys, type SealingKeys, openSealed, seal } from '#core/sealed.ts'
import { type AddressPolicy, AddressRefused, Unresolvable, resolveChecked } from './address-policy.ts'

/** A new secret in the Standard Webhooks form: `whsec_` and base64 of 32 random bytes. */
export const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`

const SECRET_PURPOSE = 'webhook-secret'

/** Secrets are stored sealed (src/sealed.ts), so a copy of the database cannot sign deliveries. */
export const sealWebhookSecret = (keys: SealingKeys, secret: string) => seal(keys, SECRET_PURPOSE, secret)

/**
 * The signing secret of a stored webhook. Rows written before secrets were sealed hold the
 * `whsec_` value itself and still work; they come back sealed, as do those sealed under
 * JWT_SECRET_PREVIOUS, for the caller to store. Throws SealedUnreadable for one sealed under a
 * secret this server no longer has.
 */
export const openWebhookSecret = (keys: OpeningKeys, stored: string): Opened =>
  stored.startsWith('whsec_') ? { value: stored, resealed: sealWebhookSecret(keys, stored) } : openSealed(keys, SECRET_PURPOSE, stored)

/**
 * The Standard Webhooks signature (https://www.standardwebhooks.com, "Signature scheme"):
 * base64 HMAC-SHA256 of `${id}.${timestamp}.${body}`, keyed with the base64-decoded part of the
 * secret after `whsec_`, sent as `v1,<signature>`.
 */
export function sign(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  return `v1,${createHmac('sha256', key).update(`${messageId}.${timestampSeconds}.${body}`).digest('base64')}`
}

export const MAX_REDIRECTS = 3
export const SNIPPET_BYTES = 1024

export interface SendRequest {
  url: string
  messageId: string
  secret: string
  body: string
  timestampSeconds: number
  timeoutMs: number
  policy: AddressPolicy
  signal?: AbortSignal
}

/**
 * What one attempt came to. `kind` drives the retry decision in worker.ts:
 * - answered: the receiver gave a status (2xx delivered; 5xx and 429 retried; other 4xx final);
 * - network: no answer (refused, reset, timeout, DNS failure): retried;
 * - refused: the target is not allowed (private address, too many redirects, bad redirect): final.
 */
export type SendOutcome =
  | { kind: 'answered'; status: number; snippet: string; latencyMs: number; retryAfterMs?: number }
  | { kind: 'network' | 'refused'; error: string; latencyMs: number }

const USER_AGENT = 'imghost-webhooks/1 (+https://www.standardwebhooks.com)'

/**
 * Redirects that send the same POST again (RFC 9110 §15.4: 307 and 308 must keep the method;
 * 301 and 302 may, which keeps an http-to-https move delivering). Not 303 See Other: it says
 * the POST was taken and its result is elsewhere, so it is the receiver's answer (worker.ts
 * counts it delivered); sending the event again there would deliver it twice.
 */
const FOLLOWED_REDIRECTS = [301, 302, 307, 308]

/** Sends one signed POST, following up to three redirects by hand so each hop is checked too. */
export async function sendSigned(request: SendRequest): Promise<SendOutcome> {
  const started = performance.now()
  const latencyMs = () => Math.round(performance.now() - started)
  const headers = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': request.messageId,
    'webhook-timestamp': String(request.timestampSeconds),
    'webhook-signature': sign(request.secret, request.messageId, request.timestampSeconds, request.body),
  }
  // One deadline for the whole attempt, redirects included.
  const deadline = AbortSignal.timeout(request.timeoutMs)
  const signal = request.signal ? AbortSignal.any([deadline, request.signal]) : deadline
  let url: URL
  try {
    url = new URL(request.url)
  } catch {
    return { kind: 'refused', error: 'the URL is not valid', latencyMs: latencyMs() }
  }
  for (let hop = 0; ; hop++) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return { kind: 'refused', error: `redirected to a ${url.protocol} URL`, latencyMs: latencyMs() }
    let answer: Answer
    try {
      const target = await resolveChecked(request.policy, url.hostname)
      answer = await post(url, target, headers, request.body, signal)
    } catch (error) {
      if (error instanceof AddressRefused) return { kind: 'refused', error: error.message, latencyMs: latencyMs() }
      if (error instanceof Unresolvable) return { kind: 'network', error: error.message, latencyMs: latencyMs() }
      if (deadline.aborted) return { kind: 'network', error: `no answer within ${request.timeoutMs} ms`, latencyMs: latencyMs() }
      if (request.signal?.aborted) return { kind: 'network', error: 'interrupted: the process is stopping', latencyMs: latencyMs() }
      return { kind: 'network', error: describe(error), latencyMs: latencyMs() }
    }
    if (!(FOLLOWED_REDIRECTS.includes(answer.status) && answer.location)) return { kind: 'answered', status: answer.status, snippet: answer.snippet, latencyMs: latencyMs(), retryAfterMs: retryAfterMs(answer.retryAfter) }
    if (hop >= MAX_REDIRECTS) return { kind: 'refused', error: `more than ${MAX_REDIRECTS} redirects`, latencyMs: latencyMs() }
    try {
      url = new URL(answer.location!, url)
    } catch {
      return { kind: 'refused', error: 'redirected to an invalid URL', latencyMs: latencyMs() }
    }
  }
}

interface Answer {
  status: number
  location?: string
  retryAfter?: string
  snippet: string
}

/** Retry-After as seconds or as an HTTP date (RFC 9110 §10.2.3); a date in the past means now. */
function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  const trimmed = value?.trim()
  if (!trimmed) return undefined
  if (/^\d{1,9}$/.test(trimmed)) return Number(trimmed) * 1000
  const at = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(trimmed) ? Date.parse(trimmed) : Number.NaN
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

const describe = (error: unknown) => {
  const code = (error as { code?: string })?.code
  const message = error instanceof Error ? error.message : String(error)
  return code && !message.includes(code) ? `${code}: ${message}` : message
}

/**
 * One POST to `url`, connected to `target` (the checked address) whatever DNS says now; TLS
 * still names and verifies the URL's host. Reads at most SNIPPET_BYTES of the answer.
 */
function post(url: URL, target: { address: string; family: 4 | 6 }, headers: Record<string, string>, body: string, signal: AbortSignal) {
  const pinned: LookupFunction = (_host, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [target])
    else callback(null, target.address, target.family)
  }
  const transport = url.protocol === 'https:' ? https : http
  return new Promise<Answer>((resolve, reject) => {
    const req = transport.request(
      url,
      { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, lookup: pinned, signal, agent: false },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        const done = () => {
          res.destroy()
          const retryAfter = res.headers['retry-after']
          resolve({ status: res.statusCode ?? 0, location: res.headers.location, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, snippet: Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8') })
        }
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk)
          size += chunk.length
          // The rest of a large answer is not worth reading: the status decides.
          if (size >= SNIPPET_BYTES) done()
        })
        res.on('end', done)
        res.on('error', () => done())
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}
