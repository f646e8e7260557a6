-- Album share pages count visitors too, not only views: a visitor is counted once per album and
-- UTC day, by the same daily visitor key as image views (src/analytics/visitors.ts), so reloads
-- and a page left open do not inflate the figure. Keys are kept only for today and yesterday
-- (the album module's share of the hourly housekeeping); the counts stay in album_view_daily.
alter table album_view_daily add column visitors bigint not null default 0;

create table album_visitors (
  album_id text not null references albums (id) on delete cascade,
  date date not null,
  visitor_key text not null,
  primary key (album_id, date, visitor_key)
);
create index album_visitors_date_idx on album_visitors (date);
