-- View module: breakdowns count people only, and a daily roll-up per account for GET /stats.
-- (Each statement may run again without harm: tests/view/stats-people-only.test.ts re-applies it.)
--
-- 1. image_view_daily's referrers, devices, browsers, oses and countries now map each value to
--    the views BY PEOPLE (is_bot = false) only, as views and unique_views always did; bots are
--    counted in bot_views and bot_unique_views alone. This amends the contract of 00003_view.sql
--    (which said "over all rows (human and bot)"); modules/view/rollup.ts writes it.
--
--    Rows written before: a day without bots (bot_views = 0) is already right. A day with bots
--    whose raw rows are still there (not yet pruned) is summed again from them, people only.
--    Otherwise only the device 'bot' can be taken out (every bot, and only bots, is recorded as
--    that device); the other four lists of such a day still hold its bots, at most bot_views of
--    them, since nothing is left to tell which values were theirs.
with people as (
  select d.image_id, d.date,
    coalesce((select jsonb_object_agg(value, n) from (select coalesce(a.referrer, '') as value, sum(a.views) as n from image_analytics a where a.image_id = d.image_id and a.viewed_at >= d.date::timestamp at time zone 'UTC' and a.viewed_at < (d.date + 1)::timestamp at time zone 'UTC' and not a.is_bot group by 1) x), '{}') as referrers,
    coalesce((select jsonb_object_agg(value, n) from (select coalesce(a.device_type, '') as value, sum(a.views) as n from image_analytics a where a.image_id = d.image_id and a.viewed_at >= d.date::timestamp at time zone 'UTC' and a.viewed_at < (d.date + 1)::timestamp at time zone 'UTC' and not a.is_bot group by 1) x), '{}') as devices,
    coalesce((select jsonb_object_agg(value, n) from (select coalesce(a.browser, '') as value, sum(a.views) as n from image_analytics a where a.image_id = d.image_id and a.viewed_at >= d.date::timestamp at time zone 'UTC' and a.viewed_at < (d.date + 1)::timestamp at time zone 'UTC' and not a.is_bot group by 1) x), '{}') as browsers,
    coalesce((select jsonb_object_agg(value, n) from (select coalesce(a.os, '') as value, sum(a.views) as n from image_analytics a where a.image_id = d.image_id and a.viewed_at >= d.date::timestamp at time zone 'UTC' and a.viewed_at < (d.date + 1)::timestamp at time zone 'UTC' and not a.is_bot group by 1) x), '{}') as oses,
    coalesce((select jsonb_object_agg(value, n) from (select coalesce(a.country, '') as value, sum(a.views) as n from image_analytics a where a.image_id = d.image_id and a.viewed_at >= d.date::timestamp at time zone 'UTC' and a.viewed_at < (d.date + 1)::timestamp at time zone 'UTC' and not a.is_bot group by 1) x), '{}') as countries
  from image_view_daily d
  where d.bot_views > 0
    and exists (select 1 from image_analytics a where a.image_id = d.image_id and a.viewed_at >= d.date::timestamp at time zone 'UTC' and a.viewed_at < (d.date + 1)::timestamp at time zone 'UTC')
)
update image_view_daily d
set referrers = p.referrers, devices = p.devices, browsers = p.browsers, oses = p.oses, countries = p.countries
from people p
where d.image_id = p.image_id and d.date = p.date;

update image_view_daily set devices = devices - 'bot' where devices ? 'bot';

-- 2. account_view_daily: one row per account and UTC day, so GET /stats (the account's figures
--    over 7, 30 or 90 days) reads about 90 rows instead of every view of every image. The contract,
--    as 00003's for image_view_daily:
--
--  * A row sums the views of every image the account had on that day, read when the day is
--    rolled up (raw rows, or image_view_daily rows where the raw ones are gone):
--      views, bot_views                = views by people, by bots
--      unique_views, bot_unique_views  = count(distinct visitor_key) over ALL the account's
--        images that day (a person looking at ten images is one visitor), for people, for bots.
--        Where a day's raw rows were pruned before this roll-up existed, only each image's own
--        unique_views are left, and their sum stands in (it counts such a person ten times).
--      bytes                           = user_usage.bandwidth_used of that day (every response,
--        views or not: what the monthly bandwidth limit counts), or where that row is gone,
--        the views' bytes
--      referrers, devices, browsers, oses, countries = value → views by people, '' for none
--  * Written once, for complete days only, and for days in order: the analytics job rolls up each
--    day before yesterday, oldest first (starting, on its first run, 90 days back: the longest
--    period GET /stats shows), a day's account rows and its image_view_daily rows in one
--    transaction (modules/view/rollup.ts `rollUpDay`; 00003 allows image rows for any complete day,
--    not only for days past retention). So every day from there up to max(date) is rolled up for
--    every account: an account without a row on such a day had no views then.
--  * Once a row exists it stands for that account and day: deleting an image later takes its
--    raw and image_view_daily rows (cascade), not its share of this row. Days after max(date)
--    are read from raw rows and image_view_daily, hence from the images the account still has.
create table if not exists account_view_daily (
  user_id uuid not null references users (id) on delete cascade,
  date date not null,
  views bigint not null default 0,
  unique_views bigint not null default 0,
  bot_views bigint not null default 0,
  bot_unique_views bigint not null default 0,
  bytes bigint not null default 0,
  referrers jsonb not null default '{}',
  devices jsonb not null default '{}',
  browsers jsonb not null default '{}',
  oses jsonb not null default '{}',
  countries jsonb not null default '{}',
  primary key (user_id, date)
);
-- For max(date): how far the roll-up has come.
create index if not exists account_view_daily_date_idx on account_view_daily (date);

-- GET /stats's top images add up each image's rows over up to 90 days: read from this index
-- alone (no table row visited), one range per image of the account, whatever the table's size.
create index if not exists image_view_daily_image_views_idx on image_view_daily (image_id, date) include (views);
