-- Issue 12 §3: processes now keep the sessions they have seen as well as the API keys
-- (src/auth/principal-cache.ts), so a session call needs no query. The code never updates a
-- session row, it deletes it (a logout, logout-all, a password reset, an account's deletion, the
-- housekeeping of expired ones); each deletion, or a change made by hand, tells every process at
-- once on the same channel, as 'session:<id>'. Changes of the account itself already notify as
-- 'user:<id>' (sql/00017, sql/00020).
create function imghost_session_changed() returns trigger language plpgsql as $$
begin
  perform pg_notify('imghost_principal_changed', 'session:' || old.id::text);
  return null;
end
$$;

create trigger sessions_principal_changed after update or delete on sessions
  for each row execute function imghost_session_changed();
