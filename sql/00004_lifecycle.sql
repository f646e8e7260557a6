-- Account lifecycle: mailed tokens, OAuth identities, deletion state, quota warnings, and the
-- records and leases of scheduled jobs.

-- Set (together with is_blocked) the moment the cleanup job starts removing an account, so a
-- half-deleted account can never sign in and the next run knows to finish it.
alter table users add column deletion_started_at timestamptz;
-- The last storage warning mailed (0, 80 or 100 percent), so each level is mailed once.
alter table users add column storage_warned_percent smallint not null default 0;
create index users_deletion_started_idx on users (deletion_started_at) where deletion_started_at is not null;

-- Single-use tokens sent by mail. Only a SHA-256 of the token is stored; the token travels in
-- the link. `email` is the address it was sent to: once the account's email changes, it is void.
create table auth_tokens (
  token_hash text primary key,
  user_id uuid not null references users (id) on delete cascade,
  purpose text not null check (purpose in ('verify_email', 'reset_password')),
  email text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index auth_tokens_user_idx on auth_tokens (user_id, purpose);
create index auth_tokens_expires_idx on auth_tokens (expires_at);

-- Which provider account signs in to which user: found by the provider's stable id, so a
-- later change of email at the provider still reaches the same account.
create table oauth_identities (
  provider text not null check (provider in ('google', 'github')),
  subject text not null,
  user_id uuid not null references users (id) on delete cascade,
  email text,
  created_at timestamptz not null default now(),
  primary key (provider, subject)
);
create index oauth_identities_user_idx on oauth_identities (user_id);

-- An OAuth sign-in in progress. The browser holds the state in a short-lived cookie; the row
-- holds what must not be in the browser (the PKCE verifier) and is deleted when used, so a
-- replayed callback finds nothing.
create table oauth_states (
  state_hash text primary key,
  provider text not null,
  code_verifier text,
  redirect_to text,
  expires_at timestamptz not null
);
create index oauth_states_expires_idx on oauth_states (expires_at);

-- Every run of a scheduled job: who ran it, when, how it ended, and what it did.
create table job_runs (
  id bigint generated always as identity primary key,
  job text not null,
  trigger text not null check (trigger in ('schedule', 'manual')),
  status text not null check (status in ('running', 'succeeded', 'failed')),
  holder text not null,
  started_at timestamptz not null default clock_timestamp(),
  finished_at timestamptz,
  counts jsonb not null default '{}',
  error text
);
create index job_runs_job_started_idx on job_runs (job, started_at desc);
create index job_runs_started_idx on job_runs (started_at desc);

-- One row per job: the lease a process must hold to run it. A lease row (rather than a session
-- advisory lock) works the same on PGlite's single connection and on a pooled server, and a
-- crashed holder's lease simply runs out. `last_slot` is the scheduled time last claimed, so two
-- processes whose timers fire for the same slot run it once, not once each.
create table job_leases (
  job text primary key,
  holder text not null,
  locked_until timestamptz not null,
  last_slot timestamptz
);
