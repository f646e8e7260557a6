import { AppError, NotFound } from '#core/errors.ts'

/** Another account's image is answered as a missing one: its id tells nothing. */
export const imageNotFound = () => new NotFound('No image with that id in your account', 'image_not_found')

/** Expired, or its views spent: viewers were already told 404, and the job deletes it within minutes. */
export const imageEnded = () => new AppError(410, 'image_expired', 'This image has expired or used up its views; it is being deleted')
