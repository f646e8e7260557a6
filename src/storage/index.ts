import { createLocalStorage } from './local'
import { createS3Storage, type S3StorageConfig } from './s3'
import type { ObjectStorage } from './types'

export type * from './types'
export { InvalidKeyError, ObjectExistsError } from './errors'
export { InjectedStorageFault, withFaults, type FaultyStorage, type StorageFaults } from './faults'
export { contentTypeForKey } from './keys'
export { createLocalStorage } from './local'
export { createS3Storage, type S3StorageConfig } from './s3'
export { StorageUnavailableError } from './errors'
export { STORE_CHECK_TTL_MS, isStoreUnreachable, withResilience } from './resilient'

export type StorageConfig =
  | { driver: 'local'; rootDir: string }
  | ({ driver: 's3' } & S3StorageConfig)

/** Per-call limits for the S3 client (STORAGE_TIMEOUT_MS, STORAGE_MAX_ATTEMPTS). */
export interface StorageLimits {
  timeoutMs: number
  maxAttempts: number
}

/** Chooses the driver once, at start-up; everything else sees only ObjectStorage. */
export function createStorage(config: StorageConfig, limits?: StorageLimits): ObjectStorage {
  switch (config.driver) {
    case 'local':
      return createLocalStorage(config.rootDir)
    case 's3': {
      const { driver: _driver, ...s3 } = config
      return createS3Storage({ ...s3, ...limits })
    }
  }
}

/** The start's log line about where images go; never a secret. */
export function describeStorage(config: StorageConfig): { msg: string; [field: string]: unknown } {
  if (config.driver === 'local') return { msg: 'storage: local disk', dir: config.rootDir }
  return {
    msg: 'storage: S3 bucket',
    bucket: config.bucket,
    endpoint: config.endpoint ?? `AWS (${config.region})`,
    region: config.region,
    credentials: config.accessKeyId ? (config.variables?.accessKeyId ?? 'S3_ACCESS_KEY_ID') : 'the AWS default chain',
  }
}
