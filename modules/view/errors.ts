import { Forbidden, NotFound } from '#core/errors.ts'

/**
 * For refusals that depend on who asks. A 404 may be stored by any cache without being told
 * (RFC 9111 §4.2.2): a CDN would then hand a private image's anonymous 404 to its owner, or go
 * on serving it after the image is made public.
 */
const NOT_STORED = { 'Cache-Control': 'no-store' }

/** Missing, someone else's private image, hidden, ended or spent: one answer for all. */
export class ImageNotFound extends NotFound {
  override readonly headers = NOT_STORED

  constructor() {
    super('Image not found', 'image_not_found')
  }
}

/** Decided by the Referer: a stored copy would refuse the sites the owner allows. */
export class HotlinkForbidden extends Forbidden {
  override readonly headers = NOT_STORED

  constructor() {
    super('This image may only be embedded on the sites its owner allows', 'hotlink_forbidden')
  }
}
