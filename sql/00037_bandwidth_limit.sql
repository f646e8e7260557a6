-- The plans' monthly bandwidth (src/config.ts PLAN_LIMITS) is a limit: once an account's use this
-- month (the sum of user_usage.bandwidth_used since the first, UTC) reaches its plan's figure,
-- its images are refused to everyone but the owner until the month turns. This column holds
-- that decision, made when the view recorder writes usage and again when an admin changes the
-- plan: the instant the limit lifts (the first of next month, UTC), or null. A past instant is
-- no limit, so a new month needs no job. Read with the image lookup the view servers cache
-- (modules/view/repo.ts), which a change of it drops through imghost_user_changed.
alter table users add column bandwidth_limited_until timestamptz;
