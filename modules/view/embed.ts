import type { Config } from '#core/config.ts'
import { SITE_NAME, WRAP_LONG_WORDS, pageTitle } from '#core/http/html.ts'
import { sessionFormLink } from '#core/http/session-form-link.ts'
import { imageUrls, mediumUrl } from '#core/images/urls.ts'
import type { StoredVariant } from '#core/images/types.ts'
import type { StoredFormat, VariantName } from '#core/media/types.ts'
import type { ViewableImage } from './repo.ts'
import { SIZES, chooseVariant, parseImageFile, requestedSize } from './variants.ts'

/** Escapes for HTML text and double- or single-quoted attributes alike. */
export const escapeHtml = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

/** Markdown alt text: brackets and backslashes would end or bend the link. */
const escapeMarkdown = (value: string) => value.replace(/[\\[\]]/g, '\\$&').replace(/[\r\n]+/g, ' ')

export const displayTitle = (image: Pick<ViewableImage, 'title' | 'original_name' | 'filename'>) => image.title ?? image.original_name ?? image.filename

export const embedPageUrl = (config: Config, id: string) => `${config.publicUrls.view}/embed/${id}`

const thumbOf = (image: ViewableImage): StoredVariant | undefined =>
  image.variants.find((v) => v.name === 'thumb' && v.format === image.format)

/**
 * The main column's width as the page's CSS makes it (main: max-width 960px, padding 16px), so
 * a phone picks the medium and a wide screen the original only when it needs the pixels.
 */
const FIGURE_SIZES = '(max-width: 992px) calc(100vw - 32px), 960px'

/**
 * The page's own picture: the medium (1024 px) when the image has one, not the original (a
 * 4000 px, 8 MB photo on a 390 px phone), with the original offered by width for screens that
 * want more. An image whose medium was skipped (small enough, or the medium no lighter) is
 * shown as its original. The URL is the one album pages and oEmbed give (cachedPaths).
 */
function figureImage(config: Config, image: ViewableImage, originalUrl: string) {
  const medium = image.variants.find((v) => v.name === 'medium' && v.format === image.format)
  if (!medium) return { src: originalUrl, width: image.width, height: image.height }
  const src = mediumUrl(config, image)
  return { src, width: medium.width, height: medium.height, srcset: `${src} ${medium.width}w, ${originalUrl} ${image.width}w` }
}

/**
 * The embed page: the image, OpenGraph/Twitter cards for link previews, oEmbed discovery, and
 * snippets to copy. User text (title, file name) only ever reaches the page through
 * escapeHtml; the snippets are escaped for their own syntax first, then for HTML.
 */
export function renderEmbedPage(config: Config, image: ViewableImage): string {
  const { url: imageUrl } = imageUrls(config, image)
  const pageUrl = embedPageUrl(config, image.id)
  const title = displayTitle(image)
  const oembedUrl = `${config.publicUrls.view}/oembed?url=${encodeURIComponent(pageUrl)}&format=json`
  const alt = title.replace(/[\r\n]+/g, ' ')
  const snippets: [string, string][] = [
    ['Direct link', imageUrl],
    ['HTML', `<img src="${escapeHtml(imageUrl)}" alt="${escapeHtml(alt)}" width="${image.width}" height="${image.height}">`],
    ['Markdown', `![${escapeMarkdown(alt)}](${imageUrl})`],
    ['BBCode', `[url=${pageUrl}][img]${imageUrl}[/img][/url]`],
  ]
  const e = escapeHtml
  const shown = figureImage(config, image, imageUrl)
  const responsive = shown.srcset ? ` srcset="${e(shown.srcset)}" sizes="${FIGURE_SIZES}"` : ''
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(pageTitle(title))}</title>
<meta property="og:type" content="website">
<meta property="og:site_name" content="${SITE_NAME}">
<meta property="og:title" content="${e(title)}">
<meta property="og:url" content="${e(pageUrl)}">
<meta property="og:image" content="${e(imageUrl)}">
<meta property="og:image:type" content="${e(image.mime_type)}">
<meta property="og:image:width" content="${image.width}">
<meta property="og:image:height" content="${image.height}">
<meta property="og:image:alt" content="${e(alt)}">
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:title" content="${e(title)}">
<meta name="twitter:image" content="${e(imageUrl)}">
<meta name="twitter:image:alt" content="${e(alt)}">
<link rel="alternate" type="application/json+oembed" href="${e(oembedUrl)}" title="${e(title)}">
<style>
body{margin:0;font:16px/1.4 system-ui,sans-serif;background:#111;color:#eee}
main{max-width:960px;margin:0 auto;padding:16px}
figure{margin:0 0 16px;text-align:center}
img{max-width:100%;height:auto}
label{display:block;margin:12px 0 4px;font-weight:600}
.report{display:block;margin-top:24px;font-size:14px;color:#aaa}
textarea{width:100%;box-sizing:border-box;font:13px ui-monospace,monospace;background:#222;color:#eee;border:1px solid #444;padding:6px;resize:vertical}
${WRAP_LONG_WORDS}
</style>
</head>
<body>
<main>
<h1>${e(title)}</h1>
<figure><a href="${e(imageUrl)}"><img src="${e(shown.src)}"${responsive} alt="${e(alt)}" width="${shown.width}" height="${shown.height}"></a></figure>
${snippets.map(([label, text], i) => `<label for="s${i}">${label}</label>\n<textarea id="s${i}" rows="2" readonly>${e(text)}</textarea>`).join('\n')}
<a class="report" href="${e(sessionFormLink(config, `/report/${image.id}`))}" rel="nofollow">Report this image</a>
</main>
</body>
</html>
`
}

/** What a URL of ours asks for: the image, and for an image link the format and size it names. */
export interface ImageLink {
  id: string
  /** `/embed/{id}` names a page, not a file. */
  file?: { format: StoredFormat | undefined; size: VariantName }
}

/**
 * The image named by a URL of ours (`/embed/{id}`, `/i/{id}…`, `/{id}.{ext}`), or null for any
 * other URL: an oEmbed provider only answers for its own URL schemes.
 */
export function imageLinkFromUrl(config: Config, url: string): ImageLink | null {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return null
  }
  const ours = [config.publicUrls.view, config.cdnBaseUrl].filter((u): u is string => u !== undefined).map((u) => new URL(u).host)
  if (!ours.includes(parsed.host)) return null
  // An empty segment (`//i/…`) is a path the view server answers 404; a trailing slash it ignores.
  const segments = parsed.pathname.split('/').slice(1)
  if (segments.at(-1) === '') segments.pop()
  if (segments.includes('')) return null
  if (segments.length === 2 && segments[0] === 'embed') {
    const page = parseImageFile(segments[1], false)
    return page && !page.thumb && page.format === undefined && !page.unknownExtension ? { id: page.id } : null
  }
  const file = segments.length === 2 && segments[0] === 'i' ? parseImageFile(segments[1], false) : segments.length === 1 ? parseImageFile(segments[0], true) : null
  if (!file || file.unknownExtension) return null
  const sizes = parsed.searchParams.getAll('size')
  if (sizes.length > 1 || (sizes[0] !== undefined && !(SIZES as readonly string[]).includes(sizes[0]))) return null
  return { id: file.id, file: { format: file.format, size: requestedSize(sizes[0], file.thumb) } }
}

/** Whether the image has what the link asks for: a link the view server answers 404 is no link to embed. */
export const linkServes = (link: ImageLink, image: Pick<ViewableImage, 'variants' | 'format'>) =>
  link.file === undefined || chooseVariant(image.variants, image.format, link.file.size, link.file.format, false) !== null

/**
 * An oEmbed 1.0 `photo` response (oembed.com §2.3.4). The photo must fit maxwidth/maxheight, so
 * the largest stored size that does is chosen (the thumbnail when none does).
 */
export function oembedFor(config: Config, image: ViewableImage, maxWidth?: number, maxHeight?: number) {
  const fits = (v: { width: number; height: number }) => (!maxWidth || v.width <= maxWidth) && (!maxHeight || v.height <= maxHeight)
  const sameFormat = image.variants.filter((v) => v.format === image.format).sort((a, b) => b.width - a.width)
  const photo = sameFormat.find(fits) ?? sameFormat.at(-1)
  const { url, thumbnail } = imageUrls(config, image)
  const photoUrl = !photo || photo.name === 'original' ? url : photo.name === 'thumb' ? thumbnail : mediumUrl(config, image)
  const thumb = thumbOf(image)
  return {
    version: '1.0' as const,
    type: 'photo' as const,
    title: displayTitle(image),
    url: photoUrl,
    width: photo?.width ?? image.width,
    height: photo?.height ?? image.height,
    provider_name: SITE_NAME,
    provider_url: config.publicUrls.view,
    cache_age: 3600,
    ...(thumb ? { thumbnail_url: thumbnail, thumbnail_width: thumb.width, thumbnail_height: thumb.height } : {}),
  }
}
