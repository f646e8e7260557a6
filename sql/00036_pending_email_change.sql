-- An email change waits for the new mailbox: the link mailed there is an auth_tokens row of its
-- own purpose, whose `email` is the address asked for. Until it is followed the account keeps
-- its address (sign-in, resets and mail go on going there); the pending change is that live
-- row and ends with it (used, replaced by a newer request, cancelled, expired, or voided with
-- every session).
alter table auth_tokens drop constraint auth_tokens_purpose_check;
alter table auth_tokens add constraint auth_tokens_purpose_check
  check (purpose in ('verify_email', 'reset_password', 'change_email'));
