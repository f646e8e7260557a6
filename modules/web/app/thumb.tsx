import { useEffect, useRef, useState } from 'preact/hooks'
import { useSession } from './ui.tsx'

/** The owner's own look is not a visitor's view: the view server serves `count=false` uncounted. */
const uncounted = (src: string) => `${src}${src.includes('?') ? '&' : '?'}count=false`

/**
 * What Thumb must know of one of the owner's images to show it without spending its views.
 * `max_views` is required, though it may be undefined: a caller that does not know it must say so.
 */
export interface ThumbImage {
  is_public: boolean
  max_views: number | null | undefined
}

/**
 * Whether a plain <img> may load the image. It sends no credentials to the view server when that
 * is on another host than the app (cookies ignore ports, not hosts): a self-destructing image
 * would then count the owner's look as a visitor's view and could be used up by it. So only a
 * public image known to have no view budget; an unknown budget is fetched as the owner.
 */
export const loadsPlainly = (image: ThumbImage) => image.is_public && image.max_views === null

/**
 * One of the owner's images from the view server. Public ones without a view budget are plain
 * lazy <img>s. The others need the owner's credentials, which an <img> cannot send
 * cross-origin, so they are fetched with the bearer token once scrolled near, and shown from a
 * blob: URL. Until then the holder says "Private", or "Loading…" for a public one.
 */
export function Thumb({ src, image, alt, size = 256, class: className, asOwner = false }: { src: string; image: ThumbImage; alt: string; size?: number; class?: string; asOwner?: boolean }) {
  const { api } = useSession()
  // asOwner: the account's monthly bandwidth is used up, and the view server serves only the owner.
  const plain = !asOwner && loadsPlainly(image)
  const [blobUrl, setBlobUrl] = useState<string | null>(null)
  const holder = useRef<HTMLSpanElement>(null)
  // A blob: URL is revoked once the <img> shows another source (or is gone): revoked while it still
  // shows it, Chromium reports the image's URL as not found (ERR_FILE_NOT_FOUND) on the console.
  useEffect(() => () => void (blobUrl && URL.revokeObjectURL(blobUrl)), [blobUrl])
  useEffect(() => {
    if (plain || !holder.current) return
    let live = true
    const observer = new IntersectionObserver(async (entries) => {
      if (!entries.some((entry) => entry.isIntersecting)) return
      observer.disconnect()
      try {
        // no-store: an <img> may have cached this URL while the image was public (immutable, and
        // without CORS headers), and that copy would fail the CORS check of this request.
        const response = await fetch(uncounted(src), { headers: { authorization: `Bearer ${await api.accessToken()}` }, credentials: 'omit', cache: 'no-store' })
        const blob = response.ok && (await response.blob())
        if (blob && live) setBlobUrl(URL.createObjectURL(blob))
      } catch {}
    }, { rootMargin: '200px' })
    observer.observe(holder.current)
    return () => {
      live = false
      observer.disconnect()
      // Not shown again later: the next source (public, or fetched afresh) replaces it, and then it is revoked.
      setBlobUrl(null)
    }
  }, [src, plain])
  if (plain) return <img class={className} src={uncounted(src)} alt={alt} width={size} height={size} loading="lazy" decoding="async" />
  return (
    <span ref={holder} class="thumb-holder">
      {blobUrl ? <img class={className} src={blobUrl} alt={alt} width={size} height={size} /> : <span class="muted">{image.is_public ? 'Loading…' : 'Private'}</span>}
    </span>
  )
}
