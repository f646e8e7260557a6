-- Expired albums are deleted by the album-expiry job (modules/albums/jobs.ts), which looks for
-- them every five minutes: only albums with an end are in this index.
create index albums_expires_idx on albums (expires_at) where expires_at is not null;
