-- The admin report queue lists one row per reported target. It grouped every report of the
-- chosen status on each call (fine for tens of thousands of reports, not millions); each target's
-- figures per status are now kept here, written by statement triggers on abuse_reports, so a page
-- of the queue reads an index instead. The rows of the targets a statement touched are worked out
-- again from their reports (not counted up and down: a deleted report moves the first and last
-- instants), in one statement for all of them, under one lock: two transactions reporting the
-- same target cannot each write a count that misses the other's report. One lock for every target,
-- not one per target, since a single statement can touch a great many (blocking an uploader
-- resolves the reports of all their images; deleting an account clears its reports' reporter),
-- and a lock per target would run out of PostgreSQL's lock table. Reports are filed and resolved
-- at a person's pace, so waiting on one another costs nothing that matters.
create table report_targets (
  target_type text not null,
  target_id text not null,
  -- open | resolved: the figures of this target's reports in that status; all: of all of them
  -- (the queue's three views, each one index range)
  status text not null,
  count integer not null,
  open_count integer not null,
  first_reported_at timestamptz not null,
  last_reported_at timestamptz not null,
  report_id bigint not null,            -- the newest open report, else the newest: what the queue's actions name
  owner_id text,                        -- max(target_owner_id::text): every report of a target names the same uploader
  primary key (target_type, target_id, status)
);
create index report_targets_queue_idx on report_targets (status, (open_count > 0) desc, last_reported_at desc, target_id);

create function refresh_report_targets(p_types text[], p_ids text[]) returns void language plpgsql as $$
begin
  perform pg_advisory_xact_lock(hashtextextended('imghost:report_targets', 0));
  -- Statements after the lock: they see every report committed before it was granted.
  delete from report_targets r using unnest(p_types, p_ids) as t(target_type, target_id)
    where r.target_type = t.target_type and r.target_id = t.target_id;
  insert into report_targets (target_type, target_id, status, count, open_count, first_reported_at, last_reported_at, report_id, owner_id)
    select a.target_type, a.target_id, coalesce(a.status, 'all'), count(*), count(*) filter (where a.status = 'open'),
           min(a.created_at), max(a.created_at), coalesce(max(a.id) filter (where a.status = 'open'), max(a.id)), max(a.target_owner_id::text)
    from unnest(p_types, p_ids) as t(target_type, target_id)
    join abuse_reports a on a.target_type = t.target_type and a.target_id = t.target_id
    group by grouping sets ((a.target_type, a.target_id, a.status), (a.target_type, a.target_id));
end $$;

-- Transition tables allow one event per trigger: three triggers, one function.
create function abuse_reports_refresh_targets() returns trigger language plpgsql as $$
declare
  types text[];
  ids text[];
begin
  if tg_op = 'INSERT' then
    select array_agg(target_type), array_agg(target_id) into types, ids from (select distinct target_type, target_id from new_reports) touched;
  elsif tg_op = 'UPDATE' then
    select array_agg(target_type), array_agg(target_id) into types, ids
      from (select target_type, target_id from new_reports union select target_type, target_id from old_reports) touched;
  else
    select array_agg(target_type), array_agg(target_id) into types, ids from (select distinct target_type, target_id from old_reports) touched;
  end if;
  if types is not null then
    perform refresh_report_targets(types, ids);
  end if;
  return null;
end $$;

create trigger abuse_reports_targets_insert after insert on abuse_reports
  referencing new table as new_reports for each statement execute function abuse_reports_refresh_targets();
create trigger abuse_reports_targets_update after update on abuse_reports
  referencing old table as old_reports new table as new_reports for each statement execute function abuse_reports_refresh_targets();
create trigger abuse_reports_targets_delete after delete on abuse_reports
  referencing old table as old_reports for each statement execute function abuse_reports_refresh_targets();

insert into report_targets (target_type, target_id, status, count, open_count, first_reported_at, last_reported_at, report_id, owner_id)
  select target_type, target_id, coalesce(status, 'all'), count(*), count(*) filter (where status = 'open'),
         min(created_at), max(created_at), coalesce(max(id) filter (where status = 'open'), max(id)), max(target_owner_id::text)
  from abuse_reports group by grouping sets ((target_type, target_id, status), (target_type, target_id));

-- Each queue entry shows its newest reports: read newest first through this, not sorted from all of them.
create index abuse_reports_target_recent_idx on abuse_reports (target_type, target_id, id desc);
