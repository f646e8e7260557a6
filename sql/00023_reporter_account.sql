-- A signed-in reporter's account is kept with the report (abuse_reports.reporter_user_id, unused
-- until now). Deleting the account forgets it: the report stays, as an anonymous one (its
-- reporter_key, a keyed hash, still counts it once). The index serves that and the export.
alter table abuse_reports add constraint abuse_reports_reporter_user_id_fkey foreign key (reporter_user_id) references users (id) on delete set null;
create index abuse_reports_reporter_user_idx on abuse_reports (reporter_user_id) where reporter_user_id is not null;
