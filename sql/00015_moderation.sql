-- Abuse reports and moderation (issue 15 §6).

-- Set when an image is hidden pending review (REPORT_AUTOHIDE_THRESHOLD distinct reporters):
-- the view server then treats it as missing until an admin dismisses (unhide) or removes it.
alter table images add column hidden_at timestamptz;

-- One row per report. target_type/target_id name what is reported ('image' today; albums add
-- their own type without a schema change, which is why there is no foreign key to images).
-- The reporter is kept only as an HMAC of their address (reporter_key): enough to count
-- distinct reporters and refuse duplicates, without storing anyone's IP.
create table abuse_reports (
  id bigint generated always as identity primary key,
  target_type text not null,
  target_id text not null,
  target_owner_id uuid,                         -- the uploader when reported (block-uploader needs it after a removal)
  reason text not null,
  note text,
  reporter_key text not null,
  reporter_user_id uuid,                        -- set when the reporter was signed in
  status text not null default 'open',          -- open | resolved
  resolution text,                              -- dismissed | removed | uploader_blocked
  resolved_by uuid,
  resolved_at timestamptz,
  created_at timestamptz not null default now()
);
-- One report per address and target, ever: a dismissed report cannot be filed again from the same address.
create unique index abuse_reports_reporter_target_idx on abuse_reports (target_type, target_id, reporter_key);
create index abuse_reports_target_idx on abuse_reports (target_type, target_id, status);
create index abuse_reports_open_idx on abuse_reports (status, created_at desc);
-- The audit pages read one account's entries newest first by id (the cursor).
create index audit_log_user_id_idx on audit_log (user_id, id desc);
