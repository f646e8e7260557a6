import type { Sql, TransactionSql } from '#core/db/index.ts'

/**
 * Rolls raw views (those no daily row covers yet: sql/00008_view_unrolled.sql) of every UTC day before `before` ('YYYY-MM-DD', or a Date's UTC day) up into image_view_daily,
 * one row per image and day, for days not rolled up yet; returns how many rows it wrote.
 * For the analytics job, which then may delete raw rows of those days (see the contract in
 * sql/00003_view.sql). Pass a day at least one full day back (e.g. yesterday's date) so that
 * no view of a rolled-up day can still be in a process's buffer. `from` ('YYYY-MM-DD'): only days
 * from that one on (rollUpDay passes one day).
 */
export async function rollUpDailyViews(sql: Sql | TransactionSql, before: Date | string, from?: string): Promise<number> {
  // A Date counts from the start of its UTC day.
  const beforeDay = typeof before === 'string' ? before : before.toISOString().slice(0, 10)
  const rows = await sql`
    with src as (
      select * from image_views_unrolled
      where viewed_at < (${beforeDay}::date)::timestamp at time zone 'UTC'
        ${from ? sql`and viewed_at >= (${from}::date)::timestamp at time zone 'UTC'` : sql``}
    ),
    totals as (
      select image_id, day,
        coalesce(sum(views) filter (where not is_bot), 0) as views,
        count(distinct visitor_key) filter (where not is_bot) as unique_views,
        coalesce(sum(views) filter (where is_bot), 0) as bot_views,
        count(distinct visitor_key) filter (where is_bot) as bot_unique_views,
        coalesce(sum(bytes_sent), 0) as bytes
      from src group by 1, 2
    ),
    ${breakdown(sql, 'referrers', 'referrer')},
    ${breakdown(sql, 'devices', 'device_type')},
    ${breakdown(sql, 'browsers', 'browser')},
    ${breakdown(sql, 'oses', 'os')},
    ${breakdown(sql, 'countries', 'country')}
    insert into image_view_daily (image_id, date, views, unique_views, bot_views, bot_unique_views, bytes, referrers, devices, browsers, oses, countries)
    select t.image_id, t.day, t.views, t.unique_views, t.bot_views, t.bot_unique_views, t.bytes,
      coalesce(referrers.counts, '{}'), coalesce(devices.counts, '{}'), coalesce(browsers.counts, '{}'),
      coalesce(oses.counts, '{}'), coalesce(countries.counts, '{}')
    from totals t
      left join referrers using (image_id, day)
      left join devices using (image_id, day)
      left join browsers using (image_id, day)
      left join oses using (image_id, day)
      left join countries using (image_id, day)
    on conflict (image_id, date) do nothing
    returning 1`
  return rows.length
}

/**
 * `name` as a CTE: per image and day, a jsonb object of `column` value → views by people ('' for
 * null). Bots are counted in bot_views only (sql/00038_view_stats.sql); a day of bots alone gets '{}'.
 */
const breakdown = (sql: Sql | TransactionSql, name: string, column: string) => sql`
  ${sql(name)} as (
    select image_id, day, jsonb_object_agg(value, n) as counts
    from (select image_id, day, coalesce(${sql(column)}, '') as value, sum(views) as n from src where not is_bot group by 1, 2, 3) x
    group by 1, 2
  )`

const ACCOUNT_DIMENSIONS = [
  ['referrers', 'referrer'],
  ['devices', 'device_type'],
  ['browsers', 'browser'],
  ['oses', 'os'],
  ['countries', 'country'],
] as const

/**
 * One UTC day of every account into account_view_daily (the contract is in
 * sql/00038_view_stats.sql): the day's raw views not covered by an image row, plus the image rows
 * of images whose raw views are gone, grouped by owner; bandwidth from user_usage. Accounts that
 * already have the day's row keep it. Returns how many rows it wrote.
 */
async function rollUpAccountDay(tx: TransactionSql, day: string): Promise<number> {
  const rows = await tx`
    with raw as (
      select i.user_id, r.* from image_views_unrolled r join images i on i.id = r.image_id
      where r.viewed_at >= (${day}::date)::timestamp at time zone 'UTC' and r.viewed_at < (${day}::date + 1)::timestamp at time zone 'UTC'
    ),
    rolled as (
      select i.user_id, d.* from image_view_daily d join images i on i.id = d.image_id where d.date = ${day}::date
    ),
    totals as (
      select user_id, sum(views) as views, sum(unique_views) as unique_views, sum(bot_views) as bot_views,
        sum(bot_unique_views) as bot_unique_views, sum(bytes) as bytes
      from (
        -- One person looking at ten images is one visitor of the account.
        select user_id,
          coalesce(sum(views) filter (where not is_bot), 0) as views,
          count(distinct visitor_key) filter (where not is_bot) as unique_views,
          coalesce(sum(views) filter (where is_bot), 0) as bot_views,
          count(distinct visitor_key) filter (where is_bot) as bot_unique_views,
          coalesce(sum(bytes_sent), 0) as bytes
        from raw group by 1
        union all
        select user_id, sum(views), sum(unique_views), sum(bot_views), sum(bot_unique_views), sum(bytes) from rolled group by 1
      ) x group by 1
    ),
    usage as (select user_id, bandwidth_used from user_usage where date = ${day}::date and bandwidth_used > 0),
    ${ACCOUNT_DIMENSIONS.map(([name, column], i) => tx`${i ? tx`, ` : tx``}${tx(name)} as (
      select user_id, jsonb_object_agg(value, n) as counts from (
        select user_id, value, sum(n) as n from (
          select user_id, coalesce(${tx(column)}, '') as value, sum(views) as n from raw where not is_bot group by 1, 2
          union all
          select rolled.user_id, e.key, e.value::int8 from rolled, jsonb_each_text(rolled.${tx(name)}) e
        ) y group by 1, 2
      ) x group by 1
    )`)}
    insert into account_view_daily (user_id, date, views, unique_views, bot_views, bot_unique_views, bytes, referrers, devices, browsers, oses, countries)
    select coalesce(t.user_id, u.user_id), ${day}::date, coalesce(t.views, 0), coalesce(t.unique_views, 0), coalesce(t.bot_views, 0),
      coalesce(t.bot_unique_views, 0), coalesce(u.bandwidth_used, t.bytes, 0),
      coalesce(referrers.counts, '{}'), coalesce(devices.counts, '{}'), coalesce(browsers.counts, '{}'),
      coalesce(oses.counts, '{}'), coalesce(countries.counts, '{}')
    from totals t
      full join usage u on u.user_id = t.user_id
      left join referrers on referrers.user_id = coalesce(t.user_id, u.user_id)
      left join devices on devices.user_id = coalesce(t.user_id, u.user_id)
      left join browsers on browsers.user_id = coalesce(t.user_id, u.user_id)
      left join oses on oses.user_id = coalesce(t.user_id, u.user_id)
      left join countries on countries.user_id = coalesce(t.user_id, u.user_id)
    on conflict (user_id, date) do nothing
    returning 1`
  return rows.length
}

/**
 * One complete UTC day ('YYYY-MM-DD') into account_view_daily and image_view_daily, in one
 * transaction: the account rows first, while the day's raw views are all still raw.
 */
export async function rollUpDay(sql: Sql, day: string): Promise<{ accounts: number; images: number }> {
  return sql.begin(async (tx) => {
    const accounts = await rollUpAccountDay(tx, day)
    const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10)
    const images = await rollUpDailyViews(tx, next, day)
    return { accounts, images }
  })
}

/** The last day account_view_daily holds ('YYYY-MM-DD'): every day before it is rolled up too (sql/00038). */
export async function accountsRolledUpThrough(sql: Sql): Promise<string | null> {
  const [row] = await sql<{ date: string | null }[]>`select max(date)::text as date from account_view_daily`
  return row?.date ?? null
}

/** The earliest raw view older than `cutoff`, if any. */
export async function oldestRawViewBefore(sql: Sql, cutoff: Date): Promise<Date | null> {
  const [oldest] = await sql<{ viewed_at: Date | null }[]>`select min(viewed_at) as viewed_at from image_analytics where viewed_at < ${cutoff}`
  return oldest?.viewed_at ?? null
}

/** Deletes the raw views in [from, to) of one UTC day whose roll-up row exists; the others stay. */
export async function deleteRolledUpRawViews(sql: Sql, day: string, from: Date, to: Date): Promise<number> {
  return (
    await sql`
      delete from image_analytics a
      where a.viewed_at >= ${from} and a.viewed_at < ${to}
        and exists (select 1 from image_view_daily d where d.image_id = a.image_id and d.date = ${day}::date)`
  ).count
}

export async function countRawViews(sql: Sql, from: Date, to: Date): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from image_analytics where viewed_at >= ${from} and viewed_at < ${to}`
  return row?.n ?? 0
}
