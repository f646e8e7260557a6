-- Webhooks (issue 15 §3): per-user endpoints, a persistent delivery queue and every attempt.

create table webhooks (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users(id) on delete cascade,
  url text not null,
  description text not null default '',
  events text[] not null,
  -- whsec_<base64>: kept readable because every delivery is signed with it; never sent back after creation.
  secret text not null,
  enabled boolean not null default true,
  disabled_reason text,
  -- Set by the first failed delivery after a success; a day of failures disables the webhook.
  failing_since timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
-- publishEvent's check "does this user have an enabled webhook for this type" reads this index.
create index webhooks_user_idx on webhooks (user_id) where enabled;

create table webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  webhook_id uuid not null references webhooks(id) on delete cascade,
  -- The Standard Webhooks `webhook-id`: the same for every attempt and for a replay, so receivers can deduplicate.
  message_id text not null,
  event_type text not null,
  -- The exact JSON sent, so every attempt signs and sends the same bytes.
  body text not null,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  -- Due time while pending; while a worker holds the row it is that worker's lease end.
  next_attempt_at timestamptz not null,
  claim_token uuid,
  last_status_code integer,
  last_latency_ms integer,
  last_response text,
  last_error text,
  replay_of uuid,
  created_at timestamptz not null,
  finished_at timestamptz
);
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_log_idx on webhook_deliveries (webhook_id, created_at desc, id desc);
create index webhook_deliveries_finished_idx on webhook_deliveries (finished_at) where status <> 'pending';

create table webhook_attempts (
  id bigint generated always as identity primary key,
  delivery_id uuid not null references webhook_deliveries(id) on delete cascade,
  attempted_at timestamptz not null,
  status_code integer,
  latency_ms integer not null,
  response_snippet text,
  error text
);
create index webhook_attempts_delivery_idx on webhook_attempts (delivery_id, id);
