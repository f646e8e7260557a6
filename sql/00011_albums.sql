-- Albums: an owner's ordered selection of their own images, shared by link or on a public profile.

-- The public profile (/u/{username}) is opt-in: nothing about an account is listed until its owner says so.
alter table users add column public_profile boolean not null default false;

create table albums (
  id text primary key,                          -- 128 random bits, base64url: the share link is the secret of an unlisted album
  user_id uuid not null references users (id) on delete cascade,
  title text not null,
  description text,
  visibility text not null default 'private' check (visibility in ('private', 'unlisted', 'public')),
  password_hash text,                           -- Bun.password (argon2id); null: no password
  expires_at timestamptz,
  -- Deleting the cover image leaves the album without a cover, never without the album.
  cover_image_id text references images (id) on delete set null,
  views bigint not null default 0,              -- human views of the share page
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index albums_user_created_idx on albums (user_id, created_at desc, id desc);
create index albums_cover_idx on albums (cover_image_id) where cover_image_id is not null;

-- Membership and order. An image leaves its albums when it is deleted; an album's deletion
-- never touches its images.
create table album_images (
  album_id text not null references albums (id) on delete cascade,
  image_id text not null references images (id) on delete cascade,
  position integer not null,
  primary key (album_id, image_id)
);
create index album_images_image_idx on album_images (image_id);
create index album_images_order_idx on album_images (album_id, position);

-- Share-page views per UTC day, next to image_view_daily; bots are not counted.
create table album_view_daily (
  album_id text not null references albums (id) on delete cascade,
  date date not null,
  views bigint not null default 0,
  primary key (album_id, date)
);
