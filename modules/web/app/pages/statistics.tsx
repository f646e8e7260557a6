import { useBandwidthLimit } from '../bandwidth-notice.tsx'
import { Link, useRouteContext } from '../router.tsx'
import { type ViewStats, ViewsReport } from '../stats-report.tsx'
import { Thumb } from '../thumb.tsx'
import { counted, ModerationBadge, PageTitle, Status, useLoad, useSession } from '../ui.tsx'

/** GET /stats: the account's figures over a period, and its most seen images. */
interface AccountStats extends ViewStats {
  days: number
  from: string
  to: string
  top_images: {
    id: string
    name: string
    thumbnail: string
    is_public: boolean
    /** Set when the image self-destructs after that many views: a plain <img> would spend one. */
    max_views: number | null
    hidden_by_moderation: boolean
    views: number
  }[]
}

/** The periods the API offers (modules/view/model.ts ACCOUNT_STATS_PERIODS; modules may not import each other). */
const PERIODS = [7, 30, 90] as const
const DEFAULT_DAYS = 30

/** The period in the address (`?days=7`), or 30 when it names none the API offers. */
const periodOf = (query: URLSearchParams) => PERIODS.find((days) => String(days) === query.get('days')) ?? DEFAULT_DAYS

/** The choice of period: links, so the address keeps it (Back, a reload and a shared link show the same). */
function PeriodChoice({ days }: { days: number }) {
  return (
    <nav class="period-choice" aria-label="Period">
      {PERIODS.map((period) => (
        <Link href={`/statistics?days=${period}`} aria-current={period === days ? 'page' : undefined}>
          Last {period} days
        </Link>
      ))}
    </nav>
  )
}

function TopImages({ images, limited }: { images: AccountStats['top_images']; limited: boolean }) {
  return (
    <ol class="top-images" data-testid="top-images">
      {images.map((image) => (
        <li key={image.id}>
          <Link href={`/gallery/${image.id}`} class="top-image-link">
            <span class="top-image-thumb">
              {/* The view server answers 404 for a hidden image, to its owner too. A self-destructing
                  one is fetched with the owner's credentials, as the gallery does: a look spends no view;
                  so is every one while the month's bandwidth is used up (only the owner is served). */}
              {image.hidden_by_moderation ? (
                <span class="thumb-holder" />
              ) : (
                <Thumb src={image.thumbnail} image={image} asOwner={limited} alt="" size={64} />
              )}
            </span>
            <span class="top-image-name">{image.name}</span>
          </Link>
          <span class="muted">{counted(image.views, 'view')}</span>
          {image.hidden_by_moderation ? <ModerationBadge /> : null}
        </li>
      ))}
    </ol>
  )
}

export function StatisticsPage() {
  const { api } = useSession()
  const limited = useBandwidthLimit()?.bandwidth_limit_reached === true
  const days = periodOf(useRouteContext().query)
  const stats = useLoad(async () => (await api.remote<AccountStats>('view', 'GET', `/stats?days=${days}`)).data, [days])
  // Another period's figures are not shown while this one's load.
  const shown = stats.loading ? undefined : stats.data
  const empty = shown && shown.views.human.total === 0 && shown.views.bot.total === 0
  return (
    <section class="statistics-page">
      <PageTitle>Statistics</PageTitle>
      <p class="muted">How often your images were seen, by whom and from where: all your images together. Each image’s own figures are on its page.</p>
      <PeriodChoice days={days} />
      <Status error={stats.error} retry={stats} />
      {stats.loading ? <p aria-live="polite">Loading…</p> : null}
      {shown ? (
        empty ? (
          <div data-testid="statistics-empty">
            <p>No views in the last {shown.days} days.</p>
            <p class="muted">
              Views are counted when someone opens one of your images’ links. Share one from the <Link href="/gallery">gallery</Link>, or <Link href="/upload">upload</Link> some.
            </p>
          </div>
        ) : (
          <>
            <h2>Last {shown.days} days</h2>
            <ViewsReport stats={shown} chartTitle={`Views per day, last ${shown.days} days`} />
            <h2>Most viewed images</h2>
            {shown.top_images.length ? <TopImages images={shown.top_images} limited={limited} /> : <p class="muted">No image was seen by people in these days, only by bots.</p>}
            <p class="muted small">
              Views by people; bots (crawlers, link previews, scripts) are counted apart. Unique visitors are counted once a day. Views of an image you deleted stay in the totals of the
              days before yesterday.
            </p>
          </>
        )
      ) : null}
    </section>
  )
}
