-- Issue 12 §3: upload processes cache each account's GET /images pages. Whatever changes one of
-- its images (an upload, an edit, a delete, a view-count flush, the expiry job, moderation,
-- another replica, psql) tells every process at once (LISTEN imghost_image_list_changed), and only
-- if it commits. The payload is the owner's id; PostgreSQL sends one notification per distinct
-- payload per transaction, so a flush touching many images of one account notifies once.
create function imghost_image_list_changed() returns trigger language plpgsql as $$
begin
  if tg_op <> 'INSERT' then
    perform pg_notify('imghost_image_list_changed', old.user_id::text);
  end if;
  if tg_op = 'INSERT' or (tg_op = 'UPDATE' and new.user_id is distinct from old.user_id) then
    perform pg_notify('imghost_image_list_changed', new.user_id::text);
  end if;
  return null;
end
$$;

create trigger images_list_changed after insert or delete on images
  for each row execute function imghost_image_list_changed();
-- Any column may be in a listed page, or decide whether the image is listed at all.
create trigger images_list_updated after update on images
  for each row when (old is distinct from new) execute function imghost_image_list_changed();
