import type { Config } from '../config.ts'

/**
 * The link a view-server page (an image's page, an album's) gives to a form that names a
 * signed-in visitor, the report form. The session cookie is host-only: where the auth server
 * and the view server share a host name (one machine, several ports; or one listener) the
 * browser sends it to both, and the view server's own form is linked, relative; on separate
 * hosts it reaches only the auth server, which serves the same form, so the link goes there.
 */
export function sessionFormLink(config: Config, path: string): string {
  const sharesCookie = new URL(config.publicUrls.auth).hostname === new URL(config.publicUrls.view).hostname
  return sharesCookie ? path : `${config.publicUrls.auth}${path}`
}
