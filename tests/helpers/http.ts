import type { ModuleApp } from '#core/app.ts'
import { contextOf } from './context.ts'

export interface CallOptions {
  body?: unknown
  headers?: Record<string, string>
  /** Session JWT, sent as Bearer. */
  token?: string
  apiKey?: string
}

/** Calls an app and returns [response, parsed body]. The body is JSON when it parses, else text. */
export async function call(app: ModuleApp, method: string, path: string, options: CallOptions = {}): Promise<[Response, any]> {
  const headers: Record<string, string> = { ...options.headers }
  let body: BodyInit | undefined
  if (options.body instanceof FormData || typeof options.body === 'string' || options.body instanceof Uint8Array) {
    body = options.body as BodyInit
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body)
    headers['content-type'] ??= 'application/json'
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  if (options.apiKey) headers['x-api-key'] = options.apiKey
  const response = await app.handle(new Request(`http://localhost${path}`, { method, headers, body }))
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = text ? JSON.parse(text) : undefined
  } catch {}
  return [response, parsed]
}

let counter = 0
/** Unique names per call, so tests within one database never collide. */
export const unique = (prefix = 'user') => `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`

export interface TestUser {
  id: string
  username: string
  email: string
  password: string
  token: string
  user: any
}

export async function registerUser(auth: ModuleApp, overrides: Record<string, string> = {}): Promise<TestUser> {
  const username = overrides.username ?? unique()
  const input = { first_name: 'Test', last_name: 'User', username, email: `${username}@example.com`, password: 'correct horse battery', ...overrides }
  const [response, body] = await call(auth, 'POST', '/api/v1/auth/register', { body: input })
  if (response.status !== 201) throw new Error(`register failed: ${response.status} ${JSON.stringify(body)}`)
  return { id: body.user.id, username: input.username, email: input.email, password: input.password, token: body.token, user: body.user }
}

/**
 * Marks the session's account verified, straight in the database, as following the mailed link
 * would (tests/lifecycle/email-verification.test.ts covers the link itself).
 */
export async function markVerified(auth: ModuleApp, token: string) {
  const userId = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).sub as string
  await contextOf(auth).sql`update users set is_verified = true where id = ${userId}`
}

/** Keys need a verified address, so the account is verified first. */
export async function createApiKey(auth: ModuleApp, token: string, body: Record<string, unknown> = { key_name: 'test key' }): Promise<{ id: string; key: string }> {
  await markVerified(auth, token)
  const [response, result] = await call(auth, 'POST', '/api/v1/api-keys', { token, body })
  if (response.status !== 201) throw new Error(`api key failed: ${response.status} ${JSON.stringify(result)}`)
  return { id: result.api_key.id, key: result.api_key.key }
}

/** Turns a user into an admin directly in the database (tests that need one beyond the first). */
export async function makeAdmin(sql: import('#core/db/index.ts').Sql, userId: string) {
  await sql`update users set is_admin = true where id = ${userId}`
}

export interface UserWithKey extends TestUser {
  apiKey: string
}

/** A fresh account with an API key, through the real register and key routes. */
export async function signUpWithKey(auth: ModuleApp): Promise<UserWithKey> {
  const user = await registerUser(auth)
  const { key } = await createApiKey(auth, user.token)
  return { ...user, apiKey: key }
}
