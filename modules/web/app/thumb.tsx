import { useEffect, useRef, useState } from 'preact/hooks'
import { useSession } from './ui.tsx'

/** The owner's own look is not a visitor's view: the view server serves `count=false` uncounted. */
const uncounted = (src: string) => `${src}${src.includes('?') ? '&' : '?'}count=false`

/**
 * An image from the view server. Public ones are plain lazy <img>s. Private ones need the
 * owner's credentials, which an <img> cannot send cross-origin, so they are fetched with the
 * bearer token once scrolled near, and shown from a blob: URL. Until then the holder shows
 * `placeholder`: a public image fetched that way (it self-destructs, and the owner's look must not
 * spend a view) is not private, so its caller says something else.
 */
export function Thumb({ src, isPublic, alt, size = 256, class: className, placeholder = 'Private' }: { src: string; isPublic: boolean; alt: string; size?: number; class?: string; placeholder?: string }) {
  const { api } = useSession()
  const [blobUrl, setBlobUrl] = useState<string | null>(null)
  const holder = useRef<HTMLSpanElement>(null)
  // A blob: URL is revoked once the <img> shows another source (or is gone): revoked while it still
  // shows it, Chromium reports the image's URL as not found (ERR_FILE_NOT_FOUND) on the console.
  useEffect(() => () => void (blobUrl && URL.revokeObjectURL(blobUrl)), [blobUrl])
  useEffect(() => {
    if (isPublic || !holder.current) return
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
  }, [src, isPublic])
  if (isPublic) return <img class={className} src={uncounted(src)} alt={alt} width={size} height={size} loading="lazy" decoding="async" />
  return (
    <span ref={holder} class="thumb-holder">
      {blobUrl ? <img class={className} src={blobUrl} alt={alt} width={size} height={size} /> : <span class="muted">{placeholder}</span>}
    </span>
  )
}
