-- Issue 12 §3: processes cache who an API key belongs to, so an authenticated call needs no
-- query. Whatever changes a key or its account tells every process at once (LISTEN
-- imghost_principal_changed), whichever code path or replica made the change, and only if it
-- commits. The payload names the row: 'user:<id>' or 'key:<id>'.
create function imghost_principal_changed() returns trigger language plpgsql as $$
declare
  changed_id uuid := case tg_op when 'DELETE' then old.id else new.id end;
begin
  perform pg_notify('imghost_principal_changed', (case tg_table_name when 'users' then 'user:' else 'key:' end) || changed_id::text);
  return null;
end
$$;

-- Any column of the account may be in a cached principal (whoami returns the row).
create trigger users_principal_changed after update on users
  for each row when (old is distinct from new) execute function imghost_principal_changed();
create trigger users_principal_deleted after delete on users
  for each row execute function imghost_principal_changed();

-- Usage counters (requests_count, last_used_at) are written in batches and change nothing a
-- cache holds: only the columns that decide what a key may do notify.
create trigger api_keys_principal_changed
  after update of user_id, key_hash, is_active, rate_limit_per_hour, scopes, expires_at, allowed_ips or delete on api_keys
  for each row execute function imghost_principal_changed();
