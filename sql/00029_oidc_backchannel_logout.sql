-- OpenID Connect Back-Channel Logout 1.0: the provider tells POST /api/v1/auth/oidc/backchannel-logout
-- that a person logged out there (a logout token naming its session id, sid, and/or the subject,
-- sub), and the sessions that sign-in started here end too. So every session signed in through
-- the provider keeps its subject and, when the ID token named one, the provider's session id; a
-- sign-in with a second step keeps them on its challenge until the session starts.
alter table sessions add column oidc_sub text, add column oidc_sid text;
alter table auth_challenges add column oidc_sub text, add column oidc_sid text;
create index sessions_oidc_sub_idx on sessions (oidc_sub) where oidc_sub is not null;
create index sessions_oidc_sid_idx on sessions (oidc_sid) where oidc_sid is not null;
