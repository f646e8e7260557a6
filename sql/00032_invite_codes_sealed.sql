-- An invite's link can be copied again from the admin list while the invite is pending: its code
-- is kept sealed (AES-256-GCM under a key derived from JWT_SECRET, src/sealed.ts) beside the hash
-- that sign-ups are matched by, so a copy of the database alone still gives nobody a working
-- link. The seal goes when the invite is used. Invites made before this have none and stay
-- shown-once.
alter table invites add column code_sealed text;
