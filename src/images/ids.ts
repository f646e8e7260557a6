import { randomBytes } from 'node:crypto'

/** 128 random bits, base64url: 22 URL-safe characters, never sequential, never guessable. */
export const newImageId = () => randomBytes(16).toString('base64url')

/** What an image id can look like; anything else is a 404 before any lookup. */
export const IMAGE_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/
export const isImageId = (value: string) => IMAGE_ID_PATTERN.test(value)
