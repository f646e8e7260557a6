import { describe, expect, test } from 'bun:test'
import { contentTypeForKey, createStorage } from '#core/storage/index.ts'

describe('createStorage', () => {
  test('picks the driver named in the config', async () => {
    const local = createStorage({ driver: 'local', rootDir: '/tmp/imghost-unused' })
    expect(local.kind).toBe('local')
    const s3 = createStorage({ driver: 's3', bucket: 'b', region: 'us-east-1', endpoint: 'http://127.0.0.1:1', forcePathStyle: true })
    expect(s3.kind).toBe('s3')
    expect(s3.localPath).toBeUndefined()
    await Promise.all([local.close(), s3.close()])
  })

  test('refuses half a set of S3 credentials instead of silently using the default chain', () => {
    expect(() => createStorage({ driver: 's3', bucket: 'b', region: 'us-east-1', accessKeyId: 'id', forcePathStyle: false }))
      .toThrow(/both/)
  })
})

describe('contentTypeForKey', () => {
  test.each([
    ['images/ab/x/original.jpg', 'image/jpeg'],
    ['x.JPEG', 'image/jpeg'],
    ['x.png', 'image/png'],
    ['x.gif', 'image/gif'],
    ['x.webp', 'image/webp'],
    ['x.avif', 'image/avif'],
    ['export/meta.json', 'application/json'],
    ['export/all.zip', 'application/zip'],
    ['x.bmp', 'application/octet-stream'],
    ['no-extension', 'application/octet-stream'],
    ['dir.jpg/no-extension', 'application/octet-stream'],
    ['dir/.jpg', 'application/octet-stream'],
  ])('%s is %s', (key, type) => {
    expect(contentTypeForKey(key)).toBe(type)
  })
})
