-- View module: the one statement of the roll-up rule of 00003_view.sql, "a day's image_view_daily
-- row replaces the raw image_analytics rows of that image and day". Every reader of raw views
-- (GET /stats, the roll-up itself) reads them through this view, so the rule lives here only.
-- PostgreSQL inlines it: a `where image_id = …` still uses image_analytics_image_idx.
-- `day` is the UTC day of viewed_at, the day the roll-up groups by. The columns are those of
-- image_analytics when this was created (through 00007's `views`); recreate it to add more.
create view image_views_unrolled as
select r.*, (r.viewed_at at time zone 'UTC')::date as day
from image_analytics r
where not exists (
  select 1 from image_view_daily d
  where d.image_id = r.image_id and d.date = (r.viewed_at at time zone 'UTC')::date);
