import { beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import { call, describeEachBackend } from '../helpers/index.ts'
import { CORPUS, type Uploaded, type Viewer, fetchView, flushViews, uploadPhoto, signUp, text, upload, variant, variantsOf } from './support.ts'

const EVIL_TITLE = `<script>alert("x")</script> & 'quotes' "double" [md](link) </textarea>`

describeEachBackend('view info, embeds and oEmbed', (app) => {
  let owner: Viewer
  let photo: Uploaded
  let page: string

  beforeAll(async () => {
    owner = await signUp(app())
    photo = await upload(app(), owner, join(CORPUS, 'orientation/landscape_2.jpg'), { title: EVIL_TITLE })
    const [response, body] = await fetchView(app().view, `/embed/${photo.id}`)
    expect(response.status).toBe(200)
    page = text(body)
  })

  test('GET /info/{id} is the documented shape, with the human view count and nothing about the owner', async () => {
    await fetchView(app().view, `/i/${photo.id}`, { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0' })
    await flushViews(app())
    const [response, body] = await call(app().view, 'GET', `/info/${photo.id}`)
    expect(response.status).toBe(200)
    const original = variant(await variantsOf(app(), photo.id), 'original', 'jpeg')
    expect(Object.keys(body).sort()).toEqual(['dimensions', 'filename', 'id', 'mime_type', 'size', 'uploaded_at', 'views'])
    expect(body).toMatchObject({ id: photo.id, filename: photo.filename, size: original.size, dimensions: { width: 600, height: 450 }, mime_type: 'image/jpeg', views: 1 })
    expect(new Date(body.uploaded_at).toISOString()).toBe(body.uploaded_at)
    expect(JSON.stringify(body)).not.toMatch(new RegExp(`${owner.id}|${owner.username}|${owner.email}`))
    expect((await call(app().view, 'GET', '/info/AAAAAAAAAAAAAAAAAAAAAA'))[0].status).toBe(404)
  })

  test('the embed page is HTML with every piece of user text escaped', async () => {
    expect(page).not.toContain('<script>')
    expect(page).not.toContain('</textarea> &')
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;')
    // The site's name after the image's title, as the web app's pages write it.
    expect(/<title>([^<]*)<\/title>/.exec(page)?.[1]).toEndWith('&lt;/textarea&gt; · imghost')
    // Only our own tags: every "<" opens one of them.
    const tags = new Set([...page.matchAll(/<\/?([a-z!][a-z0-9]*)/gi)].map((m) => m[1]!.toLowerCase()))
    expect([...tags].sort()).toEqual(['!doctype', 'a', 'body', 'figure', 'h1', 'head', 'html', 'img', 'label', 'link', 'main', 'meta', 'style', 'textarea', 'title'])
    const [response] = await fetchView(app().view, `/embed/${photo.id}`)
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'")
    expect(response.headers.get('content-security-policy')).not.toContain('script-src')
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
  })

  test('the embed page carries OpenGraph and Twitter cards and an oEmbed discovery link', async () => {
    const meta = (attribute: string, name: string) => new RegExp(`<meta ${attribute}="${name.replace(/[:]/g, '\\:')}" content="([^"]*)">`).exec(page)?.[1]
    expect(meta('property', 'og:image')).toBe(photo.url)
    expect(photo.url).toMatch(/^https?:\/\//)
    expect(meta('property', 'og:image:width')).toBe('600')
    expect(meta('property', 'og:image:height')).toBe('450')
    expect(meta('property', 'og:title')).toContain('&lt;script&gt;')
    expect(meta('property', 'og:url')).toBe(`${app().config.publicUrls.view}/embed/${photo.id}`)
    expect(meta('name', 'twitter:card')).toBe('summary_large_image')
    expect(meta('name', 'twitter:image')).toBe(photo.url)
    const link = /<link rel="alternate" type="application\/json\+oembed" href="([^"]+)"/.exec(page)?.[1]
    expect(link).toBeDefined()
    const discovery = new URL(link!.replaceAll('&amp;', '&'))
    expect(discovery.pathname).toBe('/oembed')
    expect(discovery.searchParams.get('format')).toBe('json')
    const [oembed, body] = await call(app().view, 'GET', discovery.pathname + discovery.search)
    expect(oembed.status).toBe(200)
    expect(body.url).toBe(photo.url)
  })

  test('the copy-ready snippets: direct link, HTML, Markdown, BBCode', async () => {
    const textareas = [...page.matchAll(/<textarea[^>]*>([^<]*)<\/textarea>/g)].map((m) => decodeEntities(m[1]!))
    expect(textareas).toHaveLength(4)
    const [direct, html, markdown, bbcode] = textareas
    expect(direct).toBe(photo.url)
    expect(html).toBe(`<img src="${photo.url}" alt="${EVIL_TITLE.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')}" width="600" height="450">`)
    expect(markdown).toBe(`![${EVIL_TITLE.replace(/[\\[\]]/g, '\\$&')}](${photo.url})`)
    expect(bbcode).toBe(`[url=${app().config.publicUrls.view}/embed/${photo.id}][img]${photo.url}[/img][/url]`)
  })

  test('oEmbed answers per the spec for every URL form of ours', async () => {
    const thumb = variant(await variantsOf(app(), photo.id), 'thumb', 'jpeg')
    for (const url of [`${app().config.publicUrls.view}/embed/${photo.id}`, photo.url, photo.thumbnail, photo.view_url, `${photo.view_url}.jpg`]) {
      const [response, body] = await call(app().view, 'GET', `/oembed?url=${encodeURIComponent(url)}&format=json`)
      expect(response.status, url).toBe(200)
      expect(response.headers.get('content-type')).toStartWith('application/json')
      expect(body).toEqual({
        version: '1.0',
        type: 'photo',
        title: EVIL_TITLE,
        url: photo.url,
        width: 600,
        height: 450,
        provider_name: 'imghost',
        provider_url: app().config.publicUrls.view,
        cache_age: 3600,
        thumbnail_url: photo.thumbnail,
        thumbnail_width: thumb.width,
        thumbnail_height: thumb.height,
      })
    }
    const [small, smallBody] = await call(app().view, 'GET', `/oembed?url=${encodeURIComponent(photo.view_url)}&maxwidth=300`)
    expect(small.status).toBe(200)
    expect(smallBody).toMatchObject({ url: photo.thumbnail, width: thumb.width, height: thumb.height })
    expect(smallBody.width).toBeLessThanOrEqual(300)
  })

  test('oEmbed picks the medium size when the original does not fit', async () => {
    const big = await uploadPhoto(app(), owner, 1800, 1200)
    const [response, body] = await call(app().view, 'GET', `/oembed?url=${encodeURIComponent(big.view_url)}&maxwidth=1200`)
    expect(response.status).toBe(200)
    expect(body).toMatchObject({ width: 1024, height: 683, url: `${app().config.publicUrls.view}/i/${big.id}?size=medium` })
    expect((await fetchView(app().view, new URL(body.url).pathname + new URL(body.url).search))[0].status).toBe(200)
  })

  test("the embed page shows the medium, not the original, with the original offered by width; a small image keeps its original", async () => {
    const big = await uploadPhoto(app(), owner, 1800, 1200)
    const [response, body] = await fetchView(app().view, `/embed/${big.id}`)
    expect(response.status).toBe(200)
    const bigPage = text(body)
    const medium = variant(await variantsOf(app(), big.id), 'medium', 'jpeg')
    const mediumUrl = `${app().config.publicUrls.view}/i/${big.id}?size=medium`
    expect(figureImage(bigPage)).toEqual({
      src: mediumUrl,
      srcset: `${mediumUrl} ${medium.width}w, ${big.url} 1800w`,
      sizes: '(max-width: 992px) calc(100vw - 32px), 960px',
      width: String(medium.width),
      height: String(medium.height),
    })
    expect(medium.width).toBe(1024)
    // The medium is served at that URL, at the size the attributes give.
    const [served] = await fetchView(app().view, new URL(mediumUrl).pathname + new URL(mediumUrl).search)
    expect(served.status).toBe(200)
    expect(served.headers.get('content-type')).toBe('image/jpeg')
    // What the README promises of the page stays on the original: the link around the picture, og:image and its size, the snippets.
    expect(bigPage).toContain(`<a href="${big.url}"><img `)
    expect(bigPage).toContain(`<meta property="og:image" content="${big.url}">`)
    expect(bigPage).toContain('<meta property="og:image:width" content="1800">')
    expect(bigPage).toContain(`width=&quot;1800&quot; height=&quot;1200&quot;&gt;</textarea>`)

    // 600 px wide: no medium was made, so the original is the picture, alone.
    expect(figureImage(page)).toEqual({ src: photo.url, width: '600', height: '450' })
  })

  test('oEmbed: 404 for what is not ours, unknown or private; 501 for formats other than JSON', async () => {
    const hidden = await upload(app(), owner, join(CORPUS, 'orientation/landscape_3.jpg'), { is_public: 'false' })
    const cases: [string, number][] = [
      [`/oembed?url=${encodeURIComponent(photo.view_url)}&format=xml`, 501],
      [`/oembed?url=${encodeURIComponent(`https://elsewhere.example/i/${photo.id}`)}`, 404],
      [`/oembed?url=${encodeURIComponent(`${app().config.publicUrls.view}/i/AAAAAAAAAAAAAAAAAAAAAA`)}`, 404],
      [`/oembed?url=${encodeURIComponent(hidden.view_url)}`, 404],
      [`/oembed?url=${encodeURIComponent('not a url')}`, 404],
      [`/oembed?url=${encodeURIComponent(`${app().config.publicUrls.view}/info/${photo.id}`)}`, 404],
      ['/oembed', 422],
      ['/oembed?url=', 422],
    ]
    for (const [path, status] of cases) {
      const [response, body] = await call(app().view, 'GET', path)
      expect(response.status, path).toBe(status)
      expect(body.success, path).toBe(false)
    }
    expect((await fetchView(app().view, `/embed/${hidden.id}`))[0].status).toBe(404)
    expect((await fetchView(app().view, '/embed/AAAAAAAAAAAAAAAAAAAAAA'))[0].status).toBe(404)
  })

  test('oEmbed: 404 for a link of ours to the image that is itself a 404 (a format or size it does not have)', async () => {
    const base = app().config.publicUrls.view
    for (const url of [`${base}/${photo.id}.png`, `${base}/${photo.id}.webp`, `${base}/i/${photo.id}.gif`, `${base}/i/${photo.id}?size=huge`, `${base}/i/${photo.id}?size=thumb&size=medium`, `${base}/embed/${photo.id}.jpg`, `${base}//i/${photo.id}`]) {
      const link = new URL(url)
      expect((await fetchView(app().view, link.pathname + link.search))[0].status, url).toBeGreaterThanOrEqual(400)
      const [response, body] = await call(app().view, 'GET', `/oembed?url=${encodeURIComponent(url)}`)
      expect({ url, status: response.status, success: body.success }).toEqual({ url, status: 404, success: false })
    }
    // The same image by a size and format it has is a photo.
    const [medium] = await call(app().view, 'GET', `/oembed?url=${encodeURIComponent(`${base}/i/${photo.id}.jpg?size=thumb`)}`)
    expect(medium.status).toBe(200)
  })
})

/** The attributes of the page's own picture (the <img> in its <figure>), entities decoded. */
function figureImage(page: string): Record<string, string> {
  const tag = /<figure><a [^>]*><img ([^>]*)><\/a><\/figure>/.exec(page)?.[1]
  expect(tag).toBeDefined()
  const attributes = Object.fromEntries([...tag!.matchAll(/([a-z]+)="([^"]*)"/g)].map((m) => [m[1]!, decodeEntities(m[2]!)]))
  delete attributes.alt
  return attributes
}

function decodeEntities(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[name]!)
}
