import { createContext } from 'preact'
import type { AnchorHTMLAttributes, ComponentChildren } from 'preact'
import { useContext, useEffect, useState } from 'preact/hooks'

export interface Route {
  path: string
  query: URLSearchParams
}

const current = (): Route => ({ path: location.pathname.replace(/\/+$/, '') || '/', query: new URLSearchParams(location.search) })

/** Shows `to`. `notice`: a sentence for the page there to show once (`takeNotice`), such as what was just done. */
export function navigate(to: string, replace = false, notice?: string) {
  const state = notice ? { notice } : null
  if (replace) history.replaceState(state, '', to)
  else history.pushState(state, '', to)
  dispatchEvent(new PopStateEvent('popstate'))
}

/** The notice `navigate` handed to this page, once: it is taken out of the entry, so a reload or Back does not show it again. */
export function takeNotice(): string | null {
  const notice: unknown = history.state?.notice
  if (typeof notice !== 'string') return null
  history.replaceState(null, '')
  return notice
}

/**
 * A page's messages belong to the navigation they were said on. `shown` names what the page shows
 * (its address with the query): each time it changes within the same page, which keeps the
 * component (another search or page of a list, Back or Forward), and once when the page opens,
 * `onNavigate` is called with the notice that navigation brought, or null. The page replaces its
 * message with it, so "Image deleted." is not still there after Back to an earlier search.
 */
export function useNavigationNotice(shown: string, onNavigate: (notice: string | null) => void) {
  useEffect(() => onNavigate(takeNotice()), [shown])
}

/** Paths the servers answer themselves (the API, the bundle's files), never a page of the app. */
const SERVER_PATHS = /^\/(api|assets)(\/|$)/

/**
 * `target` (a `next` from the address bar) as a path of this app, or null. It is resolved the way
 * the browser will resolve it, and kept only if it stays on this page's origin: a prefix check
 * lets `/\evil.example` through, which browsers read as `//evil.example` (and `history` refuses).
 */
export function appPath(target: string | null | undefined): string | null {
  if (!target) return null
  let url: URL
  try {
    url = new URL(target, location.origin)
  } catch {
    return null
  }
  // `/.//evil.example` resolves to the path `//evil.example`, which would be read as a host again.
  if (url.origin !== location.origin || url.pathname.startsWith('//') || SERVER_PATHS.test(url.pathname)) return null
  return url.pathname + url.search + url.hash
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current)
  useEffect(() => {
    const update = () => setRoute(current())
    addEventListener('popstate', update)
    // The first render may already have moved the address (a signed-out visit to a private page
    // is sent to /login) before this listener was there to hear it: catch up once.
    setRoute((shown) => {
      const now = current()
      return now.path === shown.path && now.query.toString() === shown.query.toString() ? shown : now
    })
    return () => removeEventListener('popstate', update)
  }, [])
  return route
}

/** A path segment decoded, or null when its percent escapes are malformed (`%ZZ`, a cut-off `%E0%A4%A`). */
function decodeSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment)
  } catch {
    return null
  }
}

/**
 * `/gallery/:id` against `/gallery/abc` → { id: 'abc' }, or null. A parameter that does not
 * decode matches nothing, so such an address shows "Page not found" rather than stopping the app.
 */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/')
  const got = path.split('/')
  if (want.length !== got.length) return null
  const params: Record<string, string> = {}
  for (let i = 0; i < want.length; i++) {
    if (want[i]!.startsWith(':')) {
      const value = decodeSegment(got[i]!)
      if (value === null) return null
      params[want[i]!.slice(1)] = value
    } else if (want[i] !== got[i]) return null
  }
  return params
}

export function Link(props: AnchorHTMLAttributes & { href: string; children: ComponentChildren }) {
  const onClick = (event: MouseEvent) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
    event.preventDefault()
    navigate(props.href)
  }
  return <a {...props} onClick={onClick} />
}

export const RouteContext = createContext<Route>(current())
export const useRouteContext = () => useContext(RouteContext)

/**
 * A cursor-paged listing's page, kept in the address so Back and a reload return to it: the API's
 * cursor of every page after the first (base64url, never holding a comma), so Previous works
 * after a reload too.
 */
export const cursorsOf = (query: URLSearchParams) => query.get('cursors')?.split(',').filter(Boolean) ?? []

/** `path` showing the page after `cursors`, beside the listing's other parameters (`params`: /gallery's search). */
export function withCursors(path: string, cursors: string[], params = new URLSearchParams()) {
  if (cursors.length) params.set('cursors', cursors.join(','))
  const search = params.toString()
  return search ? `${path}?${search}` : path
}
