import { basename, resolve } from 'node:path'
import type { ModuleApp } from '#core/app.ts'
import { PROJECT_ROOT } from '../../scripts/lib/process.ts'

/** The shared real-file corpus; never copied into the repo. */
export const CORPUS = resolve(PROJECT_ROOT, '../shared/corpus')

export interface UploadCredentials {
  apiKey?: string
  /** Session JWT, sent as Bearer. */
  token?: string
}

/**
 * POST /upload with the file as multipart field `file` (read from disk by Bun.file) plus any
 * extra form fields. Returns [response, parsed body] like `call`.
 */
export async function uploadFile(upload: ModuleApp, credentials: UploadCredentials, filePath: string, fields: Record<string, string> = {}): Promise<[Response, any]> {
  const form = new FormData()
  for (const [name, value] of Object.entries(fields)) form.append(name, value)
  form.append('file', Bun.file(filePath), basename(filePath))
  const headers: Record<string, string> = {}
  if (credentials.apiKey) headers['x-api-key'] = credentials.apiKey
  if (credentials.token) headers.authorization = `Bearer ${credentials.token}`
  const response = await upload.handle(new Request('http://localhost/upload', { method: 'POST', headers, body: form }))
  const text = await response.text()
  let parsed: unknown = text
  try {
    parsed = text ? JSON.parse(text) : undefined
  } catch {}
  return [response, parsed]
}
