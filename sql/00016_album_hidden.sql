-- Albums can be reported like images: past REPORT_AUTOHIDE_THRESHOLD distinct reporters an
-- album is hidden (its share page, ZIP and profile card answer 404) until an admin reviews it.
alter table albums add column hidden_at timestamptz;
