-- Images that end by themselves (issue 14, "Images"): a description, an expiry time and a
-- view budget. An image is gone for every viewer once `expires_at` has passed or
-- `views_served` has reached `max_views`; the image-expiry job (modules/upload/jobs.ts) then
-- deletes its row and objects.
alter table images add column description text;
alter table images add column expires_at timestamptz;
-- The view budget: the view server spends it with one conditional UPDATE per counted view
-- (views_served = views_served + 1 where views_served < max_views), so replicas never overspend.
alter table images add column max_views integer check (max_views > 0);
alter table images add column views_served integer not null default 0 check (views_served >= 0);

-- What the expiry job looks for: few rows, so partial indexes stay small.
create index images_expires_at_idx on images (expires_at) where expires_at is not null;
create index images_max_views_idx on images (id) where max_views is not null;
