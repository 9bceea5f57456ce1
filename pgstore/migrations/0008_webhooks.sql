-- Issue 12: webhooks (package webhook).

-- Subscriptions. events lists audit event types (or '*'); secret is the
-- signing secret sealed under the KEK (webhook.SealSecret).
CREATE TABLE webhook_subscriptions (
	id         TEXT COLLATE "C" PRIMARY KEY,
	url        TEXT NOT NULL,
	events     TEXT[] NOT NULL,
	secret     BYTEA NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);

-- The delivery outbox, queued with the audit event in one transaction.
-- id is the webhook-id; payload the JSON body. A row is deleted once the
-- receiver acknowledged it, or given up.
CREATE TABLE webhook_deliveries (
	id              TEXT COLLATE "C" PRIMARY KEY,
	subscription_id TEXT COLLATE "C" NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
	event_type      TEXT NOT NULL,
	payload         BYTEA NOT NULL,
	created_at      TIMESTAMPTZ NOT NULL,
	next_at         TIMESTAMPTZ NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_deliveries_next_at ON webhook_deliveries (next_at);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id);
