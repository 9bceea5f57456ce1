-- Issue 12: the audit trail (package audit). Times are unix microseconds.
CREATE TABLE audit_events (
	id         TEXT PRIMARY KEY,
	at         INTEGER NOT NULL,
	type       TEXT NOT NULL,
	user_id    TEXT NOT NULL DEFAULT '',
	session_id TEXT NOT NULL DEFAULT '',
	client_id  TEXT NOT NULL DEFAULT '',
	key_id     TEXT NOT NULL DEFAULT '',
	ip         TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT '',
	actor      TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	email      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_user ON audit_events (user_id, at, id);
