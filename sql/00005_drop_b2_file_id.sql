-- images.b2_file_id was meant for Backblaze's native file id; the S3-compatible API never
-- returns one and nothing ever wrote it. The storage key stays in b2_file_name.
alter table images drop column if exists b2_file_id;
