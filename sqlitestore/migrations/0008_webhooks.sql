-- Issue 12: webhooks (package webhook). Times are unix microseconds.

-- Subscriptions. events is a JSON array of audit event types (or ["*"]);
-- secret is the signing secret sealed under the KEK (webhook.SealSecret).
CREATE TABLE webhook_subscriptions (
	id         TEXT PRIMARY KEY,
	url        TEXT NOT NULL,
	events     TEXT NOT NULL,
	secret     BLOB NOT NULL,
	created_at INTEGER NOT NULL
);

-- The delivery outbox, queued with the audit event in one transaction.
-- id is the webhook-id; payload the JSON body. A row is deleted once the
-- receiver acknowledged it, or given up.
CREATE TABLE webhook_deliveries (
	id              TEXT PRIMARY KEY,
	subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
	event_type      TEXT NOT NULL,
	payload         BLOB NOT NULL,
	created_at      INTEGER NOT NULL,
	next_at         INTEGER NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_deliveries_next_at ON webhook_deliveries (next_at);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id);
