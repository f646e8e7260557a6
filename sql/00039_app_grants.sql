-- Imgur's OAuth 2 PIN flow (ksnip's signed-in mode): an app is given an `upload`-only API key.
-- A PIN is issued on the web app to the signed-in person for one client id, and traded once,
-- within 10 minutes, for the key and a refresh token. Only hashes are kept.
create table app_pins (
  pin_hash text primary key,
  user_id uuid not null references users (id) on delete cascade,
  client_id text not null,
  expires_at timestamptz not null
);
create index app_pins_user_idx on app_pins (user_id);

-- One row per refresh token handed out. A refresh uses its token once and hands out the next one
-- of the same chain; the key it answered (api_key_id) is the chain's current key. A token used
-- again was stolen: the chain's keys are revoked.
create table app_refresh_tokens (
  token_hash text primary key,
  chain_id uuid not null,
  user_id uuid not null references users (id) on delete cascade,
  client_id text not null,
  api_key_id uuid references api_keys (id) on delete set null,
  used_at timestamptz,
  created_at timestamptz not null default now()
);
create index app_refresh_tokens_chain_idx on app_refresh_tokens (chain_id);
create index app_refresh_tokens_key_idx on app_refresh_tokens (api_key_id);
