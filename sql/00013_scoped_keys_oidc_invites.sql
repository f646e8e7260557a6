-- Issue 15 §2, §4, §5: scoped and expiring API keys, OpenID Connect sign-in, registration by invite.

-- Keys made before scopes existed keep doing everything they did: the default is every scope.
alter table api_keys
  add column scopes text[] not null default '{upload,images:read,images:write,albums,stats}',
  add column expires_at timestamptz,                -- null: never expires
  add column allowed_ips cidr[];                    -- null: any address; else the client must be in one range

-- A generic OpenID Connect provider signs people in alongside Google and GitHub.
alter table users drop constraint users_provider_check;
alter table users add constraint users_provider_check check (provider in ('form', 'google', 'github', 'oidc'));
alter table oauth_identities drop constraint oauth_identities_provider_check;
alter table oauth_identities add constraint oauth_identities_provider_check check (provider in ('google', 'github', 'oidc'));

-- What a sign-in in progress must remember besides the state: the OIDC nonce the ID token must
-- echo, and the invite a new account will use (its hash; the code itself stays in the link).
alter table oauth_states
  add column nonce text,
  add column invite_hash text;

-- REGISTRATION=invite: single-use codes made by admins. Only a hash is kept, like API keys.
create table invites (
  id uuid primary key default gen_random_uuid(),
  code_hash text not null,
  code_prefix text not null,                        -- shown so admins can tell invites apart
  email text,                                       -- null: anyone holding the link
  plan_type text check (plan_type in ('free', 'pro', 'enterprise')),  -- null: the default plan
  created_by uuid references users (id) on delete set null,
  expires_at timestamptz not null,
  used_at timestamptz,
  used_by uuid references users (id) on delete set null,
  created_at timestamptz not null default now()
);
create unique index invites_code_hash_key on invites (code_hash);
create index invites_created_idx on invites (created_at desc);
