import type { ComponentChildren, RefObject } from 'preact'
import { useRef } from 'preact/hooks'
import { Link } from './router.tsx'
import { useRefocus } from './ui.tsx'

/** The first of `candidates` that can take the focus: a disabled button cannot. */
const firstEnabled = (...candidates: (HTMLElement | null | undefined)[]) => candidates.find((element) => element && !(element as HTMLButtonElement).disabled) ?? null

/**
 * Previous and Next of a paged listing, with where it is between them (`position`: "Page 2",
 * "Page 2 of 3 (45 users)"). `toPrevious` / `toNext` show that page (the listing keeps its page in
 * the address); null where there is none, which disables the button.
 *
 * The button pressed is disabled when there is no page further that way once the page it asked
 * for is shown (or already while it loads), which drops the keyboard focus: once `shown` (the data
 * of the page asked for) comes, the focus goes back to the button pressed, or if it is disabled to
 * the other one, or if both are to `fallback` (the page's heading).
 */
export function Pager({ position, toPrevious, toNext, shown, fallback }: {
  position: ComponentChildren
  toPrevious: (() => void) | null
  toNext: (() => void) | null
  shown: unknown
  fallback?: RefObject<HTMLElement | null>
}) {
  const previousButton = useRef<HTMLButtonElement>(null)
  const nextButton = useRef<HTMLButtonElement>(null)
  const refocusAfterLoad = useRefocus(shown)
  const turn = (show: () => void, pressed: RefObject<HTMLButtonElement | null>, other: RefObject<HTMLButtonElement | null>) => {
    refocusAfterLoad(() => firstEnabled(pressed.current, other.current, fallback?.current))
    show()
  }
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="secondary" ref={previousButton} disabled={!toPrevious} onClick={() => toPrevious && turn(toPrevious, previousButton, nextButton)}>Previous</button>
      <span>{position}</span>
      <button type="button" class="secondary" ref={nextButton} disabled={!toNext} onClick={() => toNext && turn(toNext, nextButton, previousButton)}>Next</button>
    </nav>
  )
}

/**
 * A paged listing's load failure in the page's words: a `?cursors=` the server did not give out
 * (cut short or edited by hand) says so, with the way back to `firstPage`; any other failure as
 * the API put it. `what`: the listing, as in "This page of the gallery".
 */
export function listingError(load: { error?: string; errorCode?: string }, what: string, firstPage: string): ComponentChildren {
  if (load.errorCode !== 'invalid_cursor') return load.error
  return (
    <>
      This page of {what} does not exist: its address is cut short or changed. <Link href={firstPage}>Go to the first page</Link>.
    </>
  )
}
