-- The seed's tables, made safe: API keys hashed, every lookup indexed, times with zones.

create table users (
  id uuid primary key default gen_random_uuid(),
  first_name text not null,
  last_name text,
  username text not null,
  email text not null,
  password text,                                -- Bun.password (argon2id) hash; null for OAuth-only accounts
  provider text not null default 'form' check (provider in ('form', 'google', 'github')),
  is_admin boolean not null default false,
  is_verified boolean not null default false,
  is_blocked boolean not null default false,
  plan_type text not null default 'free' check (plan_type in ('free', 'pro', 'enterprise')),
  upload_limit_per_day integer check (upload_limit_per_day >= 0),  -- null: the plan's figure
  storage_used bigint not null default 0 check (storage_used >= 0),
  delete_scheduled_for timestamptz,
  token_version integer not null default 0,    -- bumped to revoke every token at once
  allowed_referrers text[] not null default '{}',
  default_is_public boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index users_username_key on users (lower(username));
create unique index users_email_key on users (lower(email));
create index users_delete_scheduled_idx on users (delete_scheduled_for) where delete_scheduled_for is not null;
create index users_created_at_idx on users (created_at);

-- A login session. The JWT carries its id, so one logout ends one session.
create table sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  user_agent text,
  ip text
);
create index sessions_user_idx on sessions (user_id);
create index sessions_expires_idx on sessions (expires_at);

create table api_keys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  key_name text not null,
  key_prefix text not null,                     -- the first characters, shown so users can tell keys apart
  key_hash text not null,                       -- hex SHA-256 of the whole key; the key itself is never stored
  is_active boolean not null default true,
  rate_limit_per_hour integer check (rate_limit_per_hour > 0),  -- null: the plan's figure
  requests_count bigint not null default 0,
  last_used_at timestamptz,
  created_at timestamptz not null default now()
);
create unique index api_keys_hash_key on api_keys (key_hash);
create index api_keys_user_idx on api_keys (user_id, created_at);

create table images (
  id text primary key,                          -- 128 random bits, base64url
  user_id uuid not null references users (id) on delete cascade,
  filename text not null,                       -- "<id>.<ext>"
  original_name text,
  title text,
  b2_file_id text,
  b2_file_name text,                            -- storage key of the original
  mime_type text not null,
  format text not null,
  source_format text not null,
  file_size bigint not null,                    -- bytes of the stored original
  stored_bytes bigint not null,                 -- every object of this image, counted in storage_used
  width integer not null,
  height integer not null,
  pages integer not null default 1,
  sha256 text not null,
  variants jsonb not null default '[]',
  views bigint not null default 0,
  is_public boolean not null default true,
  uploaded_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index images_user_uploaded_idx on images (user_id, uploaded_at desc, id desc);
create unique index images_user_sha256_key on images (user_id, sha256);

create table image_analytics (
  id bigint generated always as identity primary key,
  image_id text not null references images (id) on delete cascade,
  viewer_ip text,
  visitor_key text,
  referrer text,
  user_agent text,
  device_type text,
  browser text,
  os text,
  country text,
  bytes_sent bigint not null default 0,
  is_bot boolean not null default false,
  viewed_at timestamptz not null default now()
);
create index image_analytics_image_idx on image_analytics (image_id, viewed_at);
create index image_analytics_viewed_idx on image_analytics (viewed_at);

create table user_usage (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  date date not null,
  uploads_count integer not null default 0,
  views_count integer not null default 0,
  bandwidth_used bigint not null default 0
);
create unique index user_usage_user_date_key on user_usage (user_id, date);

-- Fixed-window counters shared by every process: API rate limits and login throttling.
create table rate_limits (
  bucket text not null,
  window_start timestamptz not null,
  count integer not null default 0,
  primary key (bucket, window_start)
);
create index rate_limits_window_idx on rate_limits (window_start);
