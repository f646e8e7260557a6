import type { Config } from '#core/config.ts'
import type { AppError } from '#core/errors.ts'
import { SITE_NAME, WRAP_LONG_WORDS, errorNoticeHtml, errorTitle, escapeHtml as e, pageTitle } from '#core/http/html.ts'
import { sessionFormLink } from '#core/http/session-form-link.ts'
import type { SharedAlbum } from './repo.ts'
import type { ShownImage } from './share.ts'

const STYLE = `
body{margin:0;font:16px/1.45 system-ui,sans-serif;background:#111;color:#eee}
main{max-width:1200px;margin:0 auto;padding:16px}
h1{margin:.2em 0}a{color:#9cf}p.muted{color:#aaa}
ul.grid{list-style:none;margin:16px 0;padding:0;display:grid;gap:8px;grid-template-columns:repeat(auto-fill,minmax(min(100%,240px),1fr))}
ul.grid li{margin:0}ul.grid a{display:block;background:#222;border-radius:4px;overflow:hidden}
ul.grid img{display:block;width:100%;height:auto}
ul.grid .caption{display:block;padding:4px 8px;font-size:13px;color:#ccc;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
form{margin:16px 0}input,button{font:inherit;padding:.5rem;border-radius:4px;border:1px solid #555}
input{background:#222;color:#eee}button{background:#237a4a;color:#fff;border-color:#237a4a;cursor:pointer}
label{display:block;margin-bottom:4px}.error{color:#f88}
nav.pager{display:flex;gap:16px;margin:16px 0}
p.preview{background:#332b00;border:1px solid #a80;border-radius:4px;padding:8px 12px}
section.refused{margin:16px 0;padding:4px 16px;background:#222;border:1px solid #555;border-radius:4px}section.refused h2{margin:.5em 0 0}
${WRAP_LONG_WORDS}
`

/** The share pages run nothing and load images from the view server (and the CDN) only. */
export function sharePageCsp(config: Config): string {
  const origins = [config.publicUrls.view, config.cdnBaseUrl].filter((u): u is string => !!u).map((u) => new URL(u).origin)
  return `default-src 'none'; img-src ${[...new Set(origins)].join(' ')}; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`
}

export function pageHeaders(config: Config, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    // Views are counted per request, and locked albums depend on the cookie.
    'cache-control': 'private, no-store',
    'referrer-policy': 'strict-origin-when-cross-origin',
    'content-security-policy': sharePageCsp(config),
    ...extra,
  }
}

interface Document {
  title: string
  head?: string
  body: string
  /** Unlisted albums and locked pages are not for search engines. */
  index?: boolean
}

function document({ title, head = '', body, index = false }: Document): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${index ? '' : '<meta name="robots" content="noindex">\n'}<title>${e(pageTitle(title))}</title>
${head}<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`
}

export const albumPageUrl = (config: Config, id: string) => `${config.publicUrls.view}/a/${id}`
export const albumOembedUrl = (config: Config, id: string) =>
  `${config.publicUrls.view}/oembed/album?url=${encodeURIComponent(albumPageUrl(config, id))}&format=json`

/** The caption under each image names its link; the same title as the image's alt would be read out twice. */
const grid = (images: ShownImage[], label: string) =>
  `<ul class="grid" aria-label="${e(label)}">
${images
  .map((image) => `<li><a href="${e(image.href)}"><img src="${e(image.src)}" alt="" width="${image.width}" height="${image.height}" loading="lazy" decoding="async"><span class="caption">${e(image.title)}</span></a></li>`)
  .join('\n')}
</ul>`

/** OpenGraph and Twitter cards of the album, with the cover as their picture, and oEmbed discovery. */
function cards(config: Config, album: SharedAlbum, cover: ShownImage | undefined): string {
  const url = albumPageUrl(config, album.id)
  const description = album.description ?? `An album by ${album.username}`
  const tags = [
    ['property', 'og:type', 'website'],
    ['property', 'og:site_name', SITE_NAME],
    ['property', 'og:title', album.title],
    ['property', 'og:description', description],
    ['property', 'og:url', url],
    ['name', 'twitter:card', cover ? 'summary_large_image' : 'summary'],
    ['name', 'twitter:title', album.title],
    ['name', 'twitter:description', description],
    ...(cover
      ? [
          ['property', 'og:image', cover.src],
          ['property', 'og:image:width', String(cover.width)],
          ['property', 'og:image:height', String(cover.height)],
          ['property', 'og:image:alt', cover.title],
          ['name', 'twitter:image', cover.src],
          ['name', 'twitter:image:alt', cover.title],
        ]
      : []),
  ]
  return (
    tags.map(([attr, key, value]) => `<meta ${attr}="${key}" content="${e(value!)}">`).join('\n') +
    `\n<link rel="alternate" type="application/json+oembed" href="${e(albumOembedUrl(config, album.id))}" title="${e(album.title)}">\n`
  )
}

/** What the owner's preview says above the page: who else can see it, and until when the link works. */
function previewNotice(album: SharedAlbum, until: Date): string {
  const audience =
    album.visibility === 'private'
      ? 'The album is private: its share link is a 404 for everyone else.'
      : album.password_hash
        ? 'Visitors are asked for the password first.'
        : 'Anyone with the share link sees this page.'
  return `<p class="preview" role="status"><strong>Preview.</strong> ${e(audience)} This preview link works until ${e(until.toISOString().replace('T', ' ').slice(0, 16))} UTC; views through it are not counted.</p>`
}

/**
 * What stands in for the grid and the ZIP link when the pictures are refused (the owner's
 * monthly bandwidth used up): the notice the image routes give a browser, in the same words.
 */
const refusedNotice = (refused: AppError) =>
  `<section class="refused" role="status"><h2>${e(errorTitle(refused.status, refused.code))}</h2>${errorNoticeHtml({ code: refused.code, message: refused.message })}</section>`

export interface AlbumPageOptions {
  /** The owner's look (a private or locked album too): a notice, the preview token on the ZIP link, and nothing for search engines or link unfurlers. */
  preview?: { token: string; until: Date }
  /** Why the pictures and the ZIP are not offered: said in their place, with no cards of a cover that would be refused too. */
  refused?: AppError
}

/** The share page. */
export function renderAlbumPage(config: Config, album: SharedAlbum, images: ShownImage[], cover: ShownImage | undefined, { preview, refused }: AlbumPageOptions = {}): string {
  const count = `${images.length} image${images.length === 1 ? '' : 's'}`
  const profile = `${config.publicUrls.view}/u/${encodeURIComponent(album.username)}`
  const zip = `${albumPageUrl(config, album.id)}.zip${preview ? `?preview=${encodeURIComponent(preview.token)}` : ''}`
  const owner = album.visibility === 'public' && album.public_profile ? `<a href="${e(profile)}">${e(album.username)}</a>` : e(album.username)
  return document({
    title: album.title,
    index: album.visibility === 'public' && !preview && !refused,
    head: preview || refused ? '' : cards(config, album, cover),
    body: `${preview ? previewNotice(album, preview.until) : ''}<h1>${e(album.title)}</h1>
<p class="muted">${refused ? `by ${owner}` : `${count} · by ${owner} · <a href="${e(zip)}" download>Download all (ZIP)</a>`}</p>
${album.description ? `<p>${e(album.description)}</p>` : ''}
${refused ? refusedNotice(refused) : images.length ? grid(images, album.title) : '<p>This album is empty.</p>'}
${preview ? '' : `<p class="muted"><a href="${e(sessionFormLink(config, `/report/album/${album.id}`))}" rel="nofollow">Report this album</a></p>`}`,
  })
}

/**
 * The password form. Link previews see the title only: the cover is part of what is protected.
 * `message`: why the last try was refused, which marks the field (autofocused) invalid and describes it.
 */
export function renderPasswordPage(config: Config, album: SharedAlbum, message?: string): string {
  return document({
    title: album.title,
    head: `<meta property="og:title" content="${e(album.title)}">\n<meta property="og:url" content="${e(albumPageUrl(config, album.id))}">\n`,
    body: `<h1>${e(album.title)}</h1>
<p>This album is protected by a password.</p>
${message ? `<p class="error" role="alert" id="password-error">${e(message)}</p>` : ''}
<form method="post" action="/a/${e(album.id)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" required autocomplete="current-password" autofocus${message ? ' aria-invalid="true" aria-describedby="password-error"' : ''}>
<button type="submit">View album</button>
</form>`,
  })
}

export const renderNotFoundPage = (what = 'album') =>
  document({ title: 'Not found', body: `<h1>Not found</h1>\n<p>There is no such ${e(what)}, or it is no longer shared.</p>` })

export const renderLockedZipPage = (config: Config, album: SharedAlbum) =>
  document({
    title: album.title,
    body: `<h1>Password required</h1>\n<p>Enter the password on <a href="${e(albumPageUrl(config, album.id))}">the album page</a> first.</p>`,
  })

export interface ProfileView {
  username: string
  displayName: string
  albums: { url: string; title: string; count: number; cover?: ShownImage }[]
  images: ShownImage[]
  page: number
  hasNext: boolean
}

/** A profile address whose page number is not one (`?page=abc`): said in words, with the way to the first page. */
export const renderBadProfilePage = (config: Config, username: string) =>
  document({
    title: 'Page not valid',
    body: `<h1>Page not valid</h1>\n<p>That page number is not valid.</p>\n<p><a href="${e(`${config.publicUrls.view}/u/${encodeURIComponent(username)}`)}">Go to the first page of ${e(username)}’s profile</a></p>`,
  })

export function renderProfilePage(config: Config, view: ProfileView): string {
  const base = `${config.publicUrls.view}/u/${encodeURIComponent(view.username)}`
  const albums = view.albums.length
    ? `<h2>Albums</h2>\n<ul class="grid" aria-label="Albums">\n${view.albums
        .map(
          (album) =>
            `<li><a href="${e(album.url)}">${album.cover ? `<img src="${e(album.cover.src)}" alt="" width="${album.cover.width}" height="${album.cover.height}" loading="lazy">` : ''}<span class="caption">${e(album.title)} (${album.count})</span></a></li>`,
        )
        .join('\n')}\n</ul>`
    : ''
  const pager = `<nav class="pager" aria-label="Pages">${view.page > 1 ? `<a href="${e(`${base}?page=${view.page - 1}`)}" rel="prev">Newer</a>` : ''}<span>Page ${view.page}</span>${view.hasNext ? `<a href="${e(`${base}?page=${view.page + 1}`)}" rel="next">Older</a>` : ''}</nav>`
  return document({
    title: view.displayName,
    index: true,
    head: `<meta property="og:type" content="profile">\n<meta property="og:title" content="${e(view.displayName)}">\n<meta property="og:url" content="${e(base)}">\n`,
    body: `<h1>${e(view.displayName)}</h1>
${view.page === 1 ? albums : ''}
<h2>Images</h2>
${view.images.length ? grid(view.images, 'Images') : '<p>No public images.</p>'}
${pager}`,
  })
}
