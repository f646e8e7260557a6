import { AppError } from '../errors.ts'

/**
 * An owner's call about an image that has expired or used up its views: viewers were already told
 * 404, and the expiry job deletes it within minutes. 410, so a client tells it from a wrong id.
 */
export const imageEnded = () => new AppError(410, 'image_expired', 'This image has expired or used up its views; it is being deleted')
