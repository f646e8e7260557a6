-- Issue 12 §3: processes now keep the sessions they have seen as well as the API keys
-- (src/auth/api-key-state.ts), so a session call needs no query. The code never updates a
-- session row, it deletes it (a logout, logout-all, a password reset, an account's deletion, the
-- housekeeping of expired ones); each deletion, or a change made by hand, tells every process at once, as 'session:<id>'.
-- Changes of the account itself already notify as 'user:<id>' (sql/00017, sql/00020).
create or replace function imghost_principal_changed() returns trigger language plpgsql as $$
declare
  changed_id uuid := case tg_op when 'DELETE' then old.id else new.id end;
  counters constant text[] := array['storage_used', 'storage_warned_percent'];
begin
  if tg_table_name = 'users' and tg_op = 'UPDATE' and to_jsonb(new) - counters = to_jsonb(old) - counters then
    if new.storage_used is distinct from old.storage_used then
      perform pg_notify('imghost_principal_changed', 'usage:' || new.id::text || ':' || new.storage_used::text);
    end if;
    return null;
  end if;
  perform pg_notify('imghost_principal_changed', (case tg_table_name when 'users' then 'user:' when 'sessions' then 'session:' else 'key:' end) || changed_id::text);
  return null;
end
$$;

create trigger sessions_principal_changed after update or delete on sessions
  for each row execute function imghost_principal_changed();
