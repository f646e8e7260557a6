-- OIDC_LOGOUT_AT_PROVIDER: a session signed in through the OpenID Connect provider keeps the ID
-- token it came with, so that logging out can send the browser to the provider's
-- end_session_endpoint with id_token_hint (OpenID Connect RP-Initiated Logout 1.0). A sign-in
-- with a second step keeps it on its challenge until the session starts. Kept only with that
-- setting on; it ends with its row.
alter table sessions add column oidc_id_token text;
alter table auth_challenges add column oidc_id_token text;
