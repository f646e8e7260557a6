import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'

/**
 * The scroll box of a table that may be wider than the screen (styles.css `.table-wrap`). While
 * it is wider, the box is a tab stop and a region named `label`: a keyboard user focuses it and
 * scrolls with the arrow keys, which a table with nothing focusable in it (the audit log at 390 px)
 * left out of reach (WCAG 2.1.1; axe's scrollable-region-focusable). While it fits, it is neither,
 * so a desktop's tab order has no stop that does nothing.
 */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }) {
  const box = useRef<HTMLDivElement>(null)
  const [scrolls, setScrolls] = useState(false)
  useEffect(() => {
    const element = box.current
    if (!element) return
    const measure = () => setScrolls(element.scrollWidth > element.clientWidth)
    // The box changes width with the window; the table inside with its rows (a list reloaded).
    const observer = new ResizeObserver(measure)
    observer.observe(element)
    if (element.firstElementChild) observer.observe(element.firstElementChild)
    measure()
    return () => observer.disconnect()
  }, [])
  return (
    <div class="table-wrap" ref={box} role={scrolls ? 'region' : undefined} aria-label={scrolls ? label : undefined} tabIndex={scrolls ? 0 : undefined}>
      {children}
    </div>
  )
}
