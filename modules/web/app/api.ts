/**
 * The page's one door to the servers. Calls to the auth server (this page's own origin) carry
 * the HttpOnly session cookie; calls to the upload and view servers carry a short-lived bearer
 * token minted from that cookie (POST /api/v1/auth/access-token) and kept in this closure only,
 * never in localStorage, so a script injected elsewhere cannot find it at rest.
 */
export interface WebConfig {
  auth_url: string
  upload_url: string
  view_url: string
  oauth_providers: string[]
  /** The OpenID Connect button's label, when that provider is configured. */
  oidc_name: string | null
  registration: 'open' | 'invite' | 'closed'
  max_upload_bytes: number
}

/**
 * One field the API refused (`error.details` of a 422 `validation_failed`, or of a 400 the
 * service refused by rule, such as `invalid_cidr`): `field` is its path, e.g.
 * `settings.allowed_referrers.3`; `value`, where given, the value refused.
 */
export interface FieldProblem {
  field: string
  message: string
  value?: string
}

/**
 * A server's message as the pages show it: a sentence with its final period, as the pages' own
 * sentences have ("The file is empty" → "The file is empty."). Every message the servers send the
 * page passes through ApiError, so no page has to remember it.
 */
export function asSentence(message: string): string {
  const text = message.trim()
  return !text || /[.!?…:]["'”’)]?$/.test(text) ? text : `${text}.`
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers?: Headers, readonly details: FieldProblem[] = []) {
    super(asSentence(message))
  }
}

const fieldProblems = (details: unknown): FieldProblem[] =>
  Array.isArray(details) ? details.filter((d): d is FieldProblem => typeof d?.field === 'string' && typeof d?.message === 'string') : []

export interface Api {
  config: WebConfig
  /** Same-origin call to the auth server, with the session cookie. */
  auth<T = any>(method: string, path: string, body?: unknown): Promise<T>
  /** Cross-origin call to the upload or view server, with the bearer token. */
  remote<T = any>(server: 'upload' | 'view', method: string, path: string, body?: unknown): Promise<{ data: T; headers: Headers }>
  accessToken(): Promise<string>
  /** Forget the token (logout). */
  reset(): void
  /**
   * Calls `listener` whenever a server answers 401: the session may have ended in another tab, or
   * it may be a sign-in form's wrong password (a wrong one at the settings is 403). Returns the
   * unsubscribe.
   */
  onUnauthorized(listener: () => void): () => void
}

/** A proxy's or the server's "not now" (RFC 9110 §15.6: 502 Bad Gateway, 503 Service Unavailable, 504 Gateway Timeout), which may pass. */
export const isUnavailable = (status: number) => status === 502 || status === 503 || status === 504

/**
 * Such an answer in plain words ("The upload server is unavailable for a moment (502)."), for the
 * upload page and every page's loads alike; `server`: the one that answered, where the page knows it.
 */
export const unavailableSentence = (status: number, server = 'The server') => `${server} is unavailable for a moment (${status}).`

/** What a failed answer says when its body says nothing (a proxy's HTML page, an empty body). */
function fallbackMessage(status: number): string {
  if (status === 413) return 'The file is too large for this server.'
  if (isUnavailable(status)) return `${unavailableSentence(status)} Try again in a minute.`
  return `The server answered ${status}.`
}

async function parse(response: Response) {
  const text = await response.text()
  let body: any = null
  try {
    body = text ? JSON.parse(text) : null
  } catch {
    body = null
  }
  if (!response.ok) {
    throw new ApiError(response.status, body?.error?.code ?? `http_${response.status}`, body?.error?.message ?? fallbackMessage(response.status), response.headers, fieldProblems(body?.error?.details))
  }
  return body
}

/** fetch, with a failure to reach the server (TypeError "Failed to fetch") told in words. */
async function send(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init)
  } catch {
    throw new ApiError(0, 'network_error', 'The server could not be reached. Check your connection and try again.')
  }
}

const jsonInit = (method: string, body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method,
  headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
  body: body === undefined ? undefined : JSON.stringify(body),
})

export function createApi(config: WebConfig): Api {
  let token: { value: string; expiresAt: number } | null = null
  let pending: Promise<string> | null = null
  const unauthorizedListeners = new Set<() => void>()
  const noticing = <T>(call: Promise<T>): Promise<T> =>
    call.catch((error) => {
      if (error instanceof ApiError && error.status === 401) for (const listener of unauthorizedListeners) listener()
      throw error
    })

  const auth = async (method: string, path: string, body?: unknown) =>
    parse(await send(path, { ...jsonInit(method, body), credentials: 'same-origin' }))

  const accessToken = () => {
    // Renewed a minute before it runs out, so a long upload never starts with a dying token.
    if (token && token.expiresAt - Date.now() > 60_000) return Promise.resolve(token.value)
    pending ??= auth('POST', '/api/v1/auth/access-token')
      .then((answer) => {
        token = { value: answer.token, expiresAt: Date.parse(answer.expires_at) }
        return answer.token as string
      })
      .finally(() => {
        pending = null
      })
    return pending
  }

  const remote = async (server: 'upload' | 'view', method: string, path: string, body?: unknown) => {
    const base = server === 'upload' ? config.upload_url : config.view_url
    const withToken = async () => {
      const init = jsonInit(method, body, { authorization: `Bearer ${await accessToken()}` })
      return send(base + path, { ...init, credentials: 'omit' })
    }
    let response = await withToken()
    if (response.status === 401) {
      token = null
      response = await withToken()
    }
    return { data: await parse(response), headers: response.headers }
  }

  return {
    config,
    auth: (method, path, body) => noticing(auth(method, path, body)),
    remote: (server, method, path, body) => noticing(remote(server, method, path, body)),
    accessToken: () => noticing(accessToken()),
    reset: () => void (token = null),
    onUnauthorized: (listener) => {
      unauthorizedListeners.add(listener)
      return () => void unauthorizedListeners.delete(listener)
    },
  }
}

export interface UploadProgress {
  loaded: number
  total: number
}

interface UploadOptions {
  isPublic?: boolean
  fields?: Record<string, string>
  onProgress: (progress: UploadProgress) => void
  signal?: AbortSignal
}

/** The upload server's answer: `created` false when the same bytes with the same settings were stored before (200, not 201). */
export interface UploadAnswer {
  image: any
  created: boolean
}

/**
 * Uploads one file. A 401 means the token was revoked (a logout in another tab ends the session and
 * its tokens) or is stale: the upload is tried once more with a fresh token, as `remote` does, and
 * if the session itself has ended, asking for that token fails, which `onUnauthorized` hears.
 */
export async function uploadFile(api: Api, file: File, options: UploadOptions): Promise<UploadAnswer> {
  const bearer = await api.accessToken()
  try {
    return await sendUpload(api, bearer, file, options)
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) throw error
    api.reset()
    return sendUpload(api, await api.accessToken(), file, options)
  }
}

/** The headers of an answer XMLHttpRequest got, as fetch would give them (those CORS exposes). */
function responseHeaders(xhr: XMLHttpRequest): Headers {
  const headers = new Headers()
  for (const line of xhr.getAllResponseHeaders().trim().split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim())
  }
  return headers
}

/** XMLHttpRequest, not fetch: only it reports upload progress. */
function sendUpload(api: Api, bearer: string, file: File, options: UploadOptions): Promise<UploadAnswer> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', `${api.config.upload_url}/upload`)
    xhr.setRequestHeader('authorization', `Bearer ${bearer}`)
    xhr.responseType = 'text'
    xhr.upload.onprogress = (event) => options.onProgress({ loaded: event.loaded, total: event.lengthComputable ? event.total : file.size })
    xhr.onload = () => {
      let body: any = null
      try {
        body = JSON.parse(xhr.responseText)
      } catch {}
      if (xhr.status >= 200 && xhr.status < 300) resolve({ image: body?.image, created: xhr.status !== 200 })
      else {
        const message = body?.error?.message ?? (xhr.status === 413 ? 'Too large for this server.' : `Upload failed (${xhr.status}).`)
        reject(new ApiError(xhr.status, body?.error?.code ?? `http_${xhr.status}`, message, responseHeaders(xhr), fieldProblems(body?.error?.details)))
      }
    }
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'The upload server could not be reached.'))
    const aborted = () => new ApiError(0, 'aborted', 'The upload was cancelled.')
    xhr.onabort = () => reject(aborted())
    // Cancelled while the token was fetched: nothing is sent.
    if (options.signal?.aborted) return reject(aborted())
    options.signal?.addEventListener('abort', () => xhr.abort(), { once: true })
    const form = new FormData()
    if (options.isPublic !== undefined) form.append('is_public', String(options.isPublic))
    for (const [name, value] of Object.entries(options.fields ?? {})) form.append(name, value)
    form.append('file', file, file.name)
    xhr.send(form)
  })
}
