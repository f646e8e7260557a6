-- View module: breakdowns count people only.
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
