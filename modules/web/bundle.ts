import type { HTMLBundle } from 'bun'

export interface WebAsset {
  body: Blob
  contentType: string
}

export interface WebBundle {
  /** The app's HTML, with its script and style tags pointing under /assets/. */
  html: string
  /** Hashed file name (as in /assets/{name}) → file. */
  assets: Map<string, WebAsset>
}

export const ASSET_PREFIX = '/assets/'

/**
 * Turns Bun's HTML import into files this module serves itself, so every answer goes through
 * Elysia (CSP and the other headers, app.handle() in tests). A binary built ahead of time
 * (`bun build --compile`) carries the bundle: `files` lists it. Run from source, the import is
 * only a path, and Bun.build bundles it once (about a second) on first use.
 */
export async function loadWebBundle(page: HTMLBundle): Promise<WebBundle> {
  const assets = new Map<string, WebAsset>()
  if (page.files?.length) {
    let html = ''
    for (const file of page.files) {
      const body = Bun.file(file.path)
      const name = file.path.split('/').pop()!
      if (file.loader === 'html') html = await body.text()
      else assets.set(name, { body, contentType: file.headers['content-type'] })
    }
    return { html: rewriteAssetUrls(html), assets }
  }
  const result = await Bun.build({
    entrypoints: [page.index],
    target: 'browser',
    minify: true,
    publicPath: ASSET_PREFIX,
    splitting: true,
    naming: { entry: '[name]-[hash].[ext]', chunk: '[name]-[hash].[ext]', asset: '[name]-[hash].[ext]' },
    define: { 'process.env.NODE_ENV': '"production"' },
  })
  if (!result.success) throw new AggregateError(result.logs, 'web app bundle failed')
  let html = ''
  for (const output of result.outputs) {
    const name = output.path.replace(/^\.\//, '')
    if (output.type.startsWith('text/html')) html = await output.text()
    else assets.set(name, { body: output, contentType: output.type })
  }
  return { html, assets }
}

/** A prebuilt bundle names its files relative to the page ("./chunk-x.js"); deep routes need absolute ones. */
const rewriteAssetUrls = (html: string) => html.replace(/(src|href)="\.?\/?((?:chunk|index)-[^"]+)"/g, (_, attr, name) => `${attr}="${ASSET_PREFIX}${name}"`)
