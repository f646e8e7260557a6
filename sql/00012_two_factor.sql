-- Two-factor authentication (issue 15 §1): TOTP, recovery codes, passkeys, and the short-lived
-- challenges between the steps of a sign-in or a passkey registration.

-- One authenticator app per account. The secret is encrypted (AES-256-GCM, key derived from the
-- server secret), so a database dump alone does not yield codes.
create table user_totp (
  user_id uuid primary key references users (id) on delete cascade,
  secret_encrypted text not null,
  confirmed_at timestamptz,                      -- null: enrolment started, not confirmed with a code
  last_used_step bigint,                         -- the last accepted 30 s step: a code is never accepted twice
  created_at timestamptz not null default now()
);

-- Single-use recovery codes; only an HMAC of each is stored.
create table recovery_codes (
  id bigint generated always as identity primary key,
  user_id uuid not null references users (id) on delete cascade,
  code_hash text not null,
  used_at timestamptz,
  created_at timestamptz not null default now()
);
create index recovery_codes_user_idx on recovery_codes (user_id);

-- WebAuthn credentials (passkeys and security keys).
create table passkeys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  credential_id text not null,                   -- base64url, as the authenticator gave it
  public_key bytea not null,                     -- COSE public key
  counter bigint not null default 0,
  transports text[] not null default '{}',
  name text not null,
  device_type text not null default 'singleDevice',
  backed_up boolean not null default false,
  created_at timestamptz not null default now(),
  last_used_at timestamptz
);
create unique index passkeys_credential_key on passkeys (credential_id);
create index passkeys_user_idx on passkeys (user_id);

-- A sign-in between its steps (password done, second factor to come), a passwordless sign-in
-- waiting for its assertion, or a passkey registration waiting for the authenticator. Only the
-- SHA-256 of a token is kept.
create table auth_challenges (
  id uuid primary key default gen_random_uuid(),
  token_hash text not null,
  purpose text not null check (purpose in ('login_2fa', 'passkey_login', 'passkey_register')),
  user_id uuid references users (id) on delete cascade,
  webauthn_challenge text,
  attempts integer not null default 0,
  expires_at timestamptz not null,
  created_at timestamptz not null default now()
);
create unique index auth_challenges_token_key on auth_challenges (token_hash);
create index auth_challenges_expires_idx on auth_challenges (expires_at);
