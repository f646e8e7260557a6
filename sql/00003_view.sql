-- View module: the daily visitor salts and the daily analytics roll-up.
-- image_analytics gets no index beyond 00001's: it takes a row per view, and every index is
-- paid for on each of them; stats read one image at a time through (image_id, viewed_at).

-- One random salt per UTC day for visitor keys: visitor_key = HMAC-SHA256(salt of the day,
-- ip + user agent). Salts older than yesterday are deleted by the view module itself, after
-- which nobody (not even the operator, who holds the server secret) can link a stored visitor
-- key back to an IP by brute force, and keys of two days cannot be linked to each other.
create table visitor_salts (
  day date primary key,
  salt bytea not null,
  created_at timestamptz not null default now()
);

-- Daily roll-up of image_analytics, filled by the analytics job so raw rows can be pruned
-- (ANALYTICS_RETENTION_DAYS) without losing the stats. The contract, relied on by GET /stats:
--
--  * One row per (image_id, date), `date` being the UTC day of viewed_at. It summarises EVERY
--    image_analytics row of that image and day:
--      views            = count of rows with is_bot = false
--      unique_views     = count(distinct visitor_key) of rows with is_bot = false
--      bot_views        = count of rows with is_bot = true
--      bot_unique_views = count(distinct visitor_key) of rows with is_bot = true
--      bytes            = sum(bytes_sent) of all rows
--      referrers, devices, browsers, oses, countries = jsonb objects mapping the value of
--        referrer, device_type, browser, os, country to its count over all rows (human and
--        bot), with the key '' standing for null (no referrer, unknown browser, …).
--  * Once a row exists for (image, date), stats read it and IGNORE the raw rows of that day, so
--    a row must only be written for a complete day: views are flushed about a second after
--    they happen, so roll up only days that ended a while ago (e.g. before yesterday). Write
--    each row once (insert … on conflict do nothing); the raw rows of a rolled-up day may then
--    be deleted at any time, in the same transaction or later.
--  * modules/view/rollup.ts `rollUpDailyViews(sql, beforeDay)` does exactly this.
create table image_view_daily (
  image_id text not null references images (id) on delete cascade,
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
  primary key (image_id, date)
);
create index image_view_daily_date_idx on image_view_daily (date);
