-- Security-relevant events, per user (issue 15 §7). Rows outlive the actor's account: the ids
-- are kept as plain values so an admin can still read who did what after a deletion.
create table audit_log (
  id bigint generated always as identity primary key,
  user_id uuid,                                  -- whose account the event concerns (null: instance-wide)
  actor_id uuid,                                 -- who did it (the user, an admin; null: the system)
  action text not null,                          -- e.g. auth.login, auth.login_failed, key.created, admin.user_blocked
  ip text,
  user_agent text,
  detail jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
create index audit_log_user_idx on audit_log (user_id, created_at desc);
create index audit_log_created_idx on audit_log (created_at desc);

-- Domain events (image.uploaded, image.deleted, …) written in the same step as the change, so a
-- consumer such as webhooks reads them from the database after a restart or on another replica.
create table domain_events (
  id bigint generated always as identity primary key,
  type text not null,
  user_id uuid not null,
  data jsonb not null,
  created_at timestamptz not null default now()
);
create index domain_events_created_idx on domain_events (created_at);
