-- A sign-in's second step belongs to the account as it was when the password was checked: a
-- password change, "sign out everywhere", a block or an admin's reset bumps users.token_version,
-- and a challenge issued before that must not still turn into a session. Rows from before this
-- migration have no version and are only minutes from expiring; they are left to expire.
alter table auth_challenges add column token_version integer;
