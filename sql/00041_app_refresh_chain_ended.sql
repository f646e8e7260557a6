-- A refresh-token chain that is ended (a spent token presented again, or its key revoked on the
-- keys page) marks its tokens revoked, apart from used: the app presenting the chain's current
-- token, never used, is told why it must be authorized again, not that the token was used.
-- Chains ended before this marked every token used, and stay so.
alter table app_refresh_tokens add column revoked_at timestamptz;
alter table app_refresh_tokens add column revoked_because text check (revoked_because in ('token_reused', 'key_revoked'));
