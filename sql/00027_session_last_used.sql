-- The list of sessions (GET /api/v1/auth/sessions) says when each was last used. Each process
-- notes the sessions its calls used and writes the latest instant in the batch it writes API
-- keys' usage in (src/auth/principal-cache.ts, once a second), so a call costs no write.
alter table sessions add column last_used_at timestamptz;

-- That batch must not drop the session from every process's cache: only what decides whether a
-- session is valid notifies now (sql/00024 notified on any update; the code never made one).
drop trigger sessions_principal_changed on sessions;
create trigger sessions_principal_changed after update of id, user_id, expires_at or delete on sessions
  for each row execute function imghost_session_changed();
