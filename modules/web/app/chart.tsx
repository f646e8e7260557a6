import { useEffect, useRef } from 'preact/hooks'

export interface Series {
  label: string
  values: number[]
}

const DAY_STEPS = [1, 2, 7, 14, 28].map((days) => days * 86_400)

/**
 * A small line chart by uPlot, loaded on demand (its own chunk: the first page never pays for it).
 * The numbers are also in a visually hidden table, for screen readers.
 */
export function Chart({ title, dates, series }: { title: string; dates: string[]; series: Series[] }) {
  const box = useRef<HTMLDivElement>(null)
  useEffect(() => {
    let plot: { destroy(): void; setSize(size: { width: number; height: number }): void } | undefined
    let live = true
    const observer = new ResizeObserver(() => plot && box.current && plot.setSize({ width: box.current.clientWidth, height: 220 }))
    void import('uplot').then(({ default: UPlot }) => {
      if (!live || !box.current) return
      const style = getComputedStyle(document.documentElement)
      const colors = [style.getPropertyValue('--accent').trim() || '#2563eb', style.getPropertyValue('--accent-2').trim() || '#db2777']
      const axis = { stroke: style.getPropertyValue('--fg').trim() || '#111', grid: { stroke: style.getPropertyValue('--border').trim() || '#ddd' } }
      plot = new UPlot(
        {
          width: box.current.clientWidth || 320,
          height: 220,
          // The API's buckets are UTC days: uPlot would draw and name each day's UTC midnight in the
          // browser's zone, the day before west of UTC. Read in UTC, it is that day everywhere.
          tzDate: (seconds) => UPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC'),
          series: [{ label: 'Date (UTC)', value: '{YYYY}-{MM}-{DD}' }, ...series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 2 }))],
          // Whole days between ticks: a bucket has no hours to mark.
          axes: [{ ...axis, incrs: DAY_STEPS }, axis],
          scales: { x: { time: true } },
        },
        [dates.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000), ...series.map((s) => s.values)],
        box.current,
      )
      observer.observe(box.current)
    })
    return () => {
      live = false
      observer.disconnect()
      plot?.destroy()
    }
  }, [dates.join(), series.map((s) => s.values.join()).join('|')])
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} aria-hidden="true" />
      {/* The div hides the table: a <table> takes the rows' height whatever its own height says, and
          that blank tail made the page scroll on past its end. */}
      <div class="visually-hidden">
        <table>
          <caption>{title}</caption>
          <thead>
            <tr>
              <th scope="col">Date</th>
              {series.map((s) => <th scope="col">{s.label}</th>)}
            </tr>
          </thead>
          <tbody>
            {dates.map((date, i) => (
              <tr>
                <th scope="row">{date}</th>
                {series.map((s) => <td>{s.values[i]}</td>)}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  )
}
