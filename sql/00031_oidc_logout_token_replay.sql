-- A back-channel logout token is taken once (Back-Channel Logout 1.0 §2.6, step 10): its jti is
-- kept until the token is too old to be taken anyway, so a captured token said again inside that
-- time is refused instead of ending the sessions signed in since. The hourly housekeeping drops
-- the expired ones.
create table oidc_logout_tokens (
  jti text primary key,
  expires_at timestamptz not null
);
create index oidc_logout_tokens_expires_at_idx on oidc_logout_tokens (expires_at);
