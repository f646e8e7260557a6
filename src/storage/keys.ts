import { InvalidKeyError } from './errors'

/** S3's own limit on key length, in UTF-8 bytes; applied to both drivers so they agree. */
const MAX_KEY_BYTES = 1024

/**
 * Both drivers accept the same keys, so code that works on local disk works on S3.
 * The rules close path traversal on disk (`..`, absolute paths, backslashes read as
 * separators elsewhere) and the NUL byte that truncates paths in C APIs.
 */
export function assertValidKey(key: string): void {
  if (key.length === 0) throw new InvalidKeyError(key, 'empty')
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new InvalidKeyError(key, `longer than ${MAX_KEY_BYTES} bytes`)
  if (key.startsWith('/')) throw new InvalidKeyError(key, 'absolute path')
  if (key.includes('\\')) throw new InvalidKeyError(key, 'backslash')
  if (/[\u0000-\u001f\u007f]/.test(key)) throw new InvalidKeyError(key, 'control character')
  for (const segment of key.split('/')) {
    if (segment === '..' || segment === '.') throw new InvalidKeyError(key, `"${segment}" segment`)
    // An empty segment ("a//b", "a/") names a directory on disk but a distinct object on S3.
    if (segment === '') throw new InvalidKeyError(key, 'empty segment')
  }
}

const CONTENT_TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  json: 'application/json',
  zip: 'application/zip',
}

/**
 * The content type a key's extension implies. Local disk keeps no metadata, and
 * ListObjectsV2 returns none, so both drivers derive list() types (and local every
 * type) from the key. Keys are server-made with the right extension, so this is exact.
 */
export function contentTypeForKey(key: string): string {
  const slash = key.lastIndexOf('/')
  const dot = key.lastIndexOf('.')
  if (dot <= slash + 1) return 'application/octet-stream'
  return CONTENT_TYPES[key.slice(dot + 1).toLowerCase()] ?? 'application/octet-stream'
}

/** A list() prefix is valid when some valid key could start with it ("" lists everything). */
export function assertValidPrefix(prefix: string): void {
  if (prefix !== '') assertValidKey(`${prefix}x`)
}
