-- A signed-in account may confirm turning two-factor authentication off, or new recovery codes,
-- with a passkey instead of a code (a passkey-only account that has used up its recovery codes
-- had no other way). Its challenge has a purpose of its own, so a sign-in's cannot be used here.
alter table auth_challenges drop constraint auth_challenges_purpose_check;
alter table auth_challenges add constraint auth_challenges_purpose_check
  check (purpose in ('login_2fa', 'passkey_login', 'passkey_register', 'passkey_confirm'));
