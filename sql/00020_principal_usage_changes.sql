-- Issue 12 §2: every upload and every delete moves users.storage_used, and under 00017 that
-- dropped the account's API keys from every process's memory, so the next call with any of them
-- read its key again (on the embedded database, a query on the upload's own main thread). A
-- change of the usage counters alone now carries the new figure, 'usage:<user id>:<bytes>', and
-- the processes correct what they hold instead. storage_warned_percent is in no cached principal:
-- a change of it alone says nothing. Every other change notifies as before.
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
  perform pg_notify('imghost_principal_changed', (case tg_table_name when 'users' then 'user:' else 'key:' end) || changed_id::text);
  return null;
end
$$;
