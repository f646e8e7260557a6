-- "Remember this device": after a second step with remember_device, that browser (or client)
-- holds a token that lets a right password alone sign the account in for 30 days. Only the
-- token's hash is kept. A device stays trusted only while the account's token_version is the
-- one it was trusted under, so whatever ends every session (a password change or reset,
-- "sign out everywhere", a block) ends every remembered device with it; turning 2FA off deletes them.
create table trusted_devices (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  token_hash text not null,
  token_version integer not null,
  user_agent text,
  ip text,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  expires_at timestamptz not null
);
create unique index trusted_devices_token_key on trusted_devices (token_hash);
create index trusted_devices_user_idx on trusted_devices (user_id, created_at);
create index trusted_devices_expires_idx on trusted_devices (expires_at);
