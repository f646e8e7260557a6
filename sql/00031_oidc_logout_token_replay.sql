-- A back-channel logout token is taken once (Back-Channel Logout 1.0 §2.6, step 10): its jti is
-- kept until the token is too old to be taken anyway, so a captured token said again inside that
-- time is refused instead of ending the sessions signed in since. The hourly housekeeping drops
-- the expired ones. The jti is kept as its SHA-256 (hex): a provider may make it as long as it
-- likes, and an index entry may not be.
create table oidc_logout_tokens (
  jti_sha256 text primary key,
  expires_at timestamptz not null
);
create index oidc_logout_tokens_expires_at_idx on oidc_logout_tokens (expires_at);
