-- CDN purges that must outlive the process that started them (src/cdn, src/images/purge.ts).
-- Public images are cached `immutable` for a year: a purge lost to a stopped process or a
-- refused call leaves a copy served for that long. Nothing is written without a CDN configured.

-- An account's public images being purged page by page (a block, a first hotlink list). The row
-- is written before the request answers, advanced after each page and deleted at the end; the
-- cdn-purges job resumes one whose updated_at has stood still (its process stopped). run_id is
-- the run that owns it: a re-request or a resume takes a new one, and the old run stops at its
-- next page instead of writing over the cursor.
create table cdn_account_purges (
  user_id uuid primary key references users (id) on delete cascade,
  run_id uuid not null,
  after_image_id text,                  -- the last image purged (images are paged by id); null: none yet
  requested_at timestamptz not null,
  updated_at timestamptz not null
);
create index cdn_account_purges_updated on cdn_account_purges (updated_at);

-- URLs whose purge call Cloudflare refused or that failed, retried by the cdn-purges job with a
-- doubling delay, and given up (logged) after a bounded number of attempts.
create table cdn_failed_purges (
  url text primary key,
  first_failed_at timestamptz not null,
  attempts integer not null,
  next_attempt_at timestamptz not null
);
create index cdn_failed_purges_due on cdn_failed_purges (next_attempt_at);
