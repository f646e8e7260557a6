-- The album list pages by (created_at, id) with a cursor that holds milliseconds (src/http/cursor.ts).
-- Albums made before created_at came from the app's clock hold PostgreSQL's microseconds: one that
-- shared the last listed album's millisecond, with a smaller microsecond part, was never listed.
-- The column now holds milliseconds whatever writes it; existing values are rounded to them.
alter table albums alter column created_at type timestamptz(3);
