import { Elysia } from 'elysia'

/**
 * Browsers ask every origin for /favicon.ico. imghost has no icon; a 404 put an error in the
 * console of every page (share, embed, delete and error pages, the docs). An empty answer that
 * may be kept a day says the same without one. The web app's own page names an empty icon.
 */
export const faviconRoute = (seed: string) =>
  new Elysia({ name: 'favicon', seed }).get('/favicon.ico', () => new Response(null, { status: 204, headers: { 'cache-control': 'public, max-age=86400' } }), {
    detail: { hide: true },
  })
