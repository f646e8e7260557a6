-- The list of sessions says where each was last used from, not only where it signed in from: a
-- session cookie used from an unknown address is what a stolen one looks like. Written with
-- last_used_at, in the same batch (src/auth/principal-cache.ts); like it, it notifies no process
-- (sql/00027).
alter table sessions add column last_ip text;
