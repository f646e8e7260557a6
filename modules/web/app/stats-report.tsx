import { Chart } from './chart.tsx'
import { hostToUnicode } from './punycode.ts'
import { counted, formatBytes } from './ui.tsx'

/** What GET /stats/{id} (one image) and GET /stats (the account) both answer. */
export interface ViewStats {
  views: { human: { total: number; unique: number }; bot: { total: number; unique: number } }
  bandwidth: { bytes: number }
  daily: { date: string; views: number; unique_views: number; bot_views: number }[]
  top: Record<'referrers' | 'devices' | 'browsers' | 'oses' | 'countries', { name: string | null; views: number }[]>
}

/**
 * One breakdown, most views first, each with a bar drawn to scale (SVG attributes, which the
 * page's CSP allows where a style attribute would not). The figures are views by people.
 * `unnamed`: what a row without a name is called; `show`: how a name is written.
 */
export function TopList({ title, rows, unnamed = 'Unknown', show = (name) => name }: { title: string; rows: { name: string | null; views: number }[]; unnamed?: string; show?: (name: string) => string }) {
  const most = Math.max(1, ...rows.map((row) => row.views))
  return (
    <div class="top-list">
      <h3>{title}</h3>
      {rows.length ? (
        <ol>
          {rows.map((row) => (
            <li>
              <span class="top-name">{row.name === null ? unnamed : show(row.name)}</span> <span class="muted">{row.views}</span>
              <svg class="top-bar" viewBox="0 0 100 4" preserveAspectRatio="none" aria-hidden="true" focusable="false">
                <rect width={Math.max(1, (row.views / most) * 100)} height="4" />
              </svg>
            </li>
          ))}
        </ol>
      ) : (
        <p class="muted">No views yet.</p>
      )}
    </div>
  )
}

/** The figures of a period in one sentence, the chart of its days, and where the views came from. */
export function ViewsReport({ stats, chartTitle }: { stats: ViewStats; chartTitle: string }) {
  return (
    <>
      <p data-testid="views-summary">
        {counted(stats.views.human.total, 'view')} by people ({stats.views.human.unique} unique), {stats.views.bot.total} by bots, {formatBytes(stats.bandwidth.bytes)} sent.
      </p>
      <Chart
        title={chartTitle}
        dates={stats.daily.map((d) => d.date)}
        series={[
          { label: 'Views', values: stats.daily.map((d) => d.views) },
          { label: 'Unique', values: stats.daily.map((d) => d.unique_views) },
        ]}
      />
      <div class="tops">
        {/* No referrer: opened directly. A host the API keeps in Punycode is shown as written (bücher.example). */}
        <TopList title="Referrers" rows={stats.top.referrers} unnamed="(none)" show={hostToUnicode} />
        <TopList title="Countries" rows={stats.top.countries} />
        <TopList title="Devices" rows={stats.top.devices} />
        <TopList title="Browsers" rows={stats.top.browsers} />
      </div>
    </>
  )
}
