import { NotFound } from '#core/errors.ts'

/** Another account's image is answered as a missing one: its id tells nothing. */
export const imageNotFound = () => new NotFound('No image with that id in your account', 'image_not_found')
