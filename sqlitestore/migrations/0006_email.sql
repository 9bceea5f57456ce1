-- Issue 10: verified addresses, emailed tokens and the mail outbox.

-- When the address was verified (unix microseconds); NULL: not verified.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

-- Emailed single-use tokens, stored only as SHA-256 (user.Token).
CREATE TABLE email_tokens (
	hash       BLOB PRIMARY KEY,
	purpose    TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	email      TEXT NOT NULL,
	stamp      TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_expires_at ON email_tokens (expires_at);

-- The mail outbox (mail.Outbox). data is the template's fields as a JSON
-- object. A row is deleted once the mail server accepted the message.
CREATE TABLE mail_outbox (
	id          TEXT PRIMARY KEY,
	recipient   TEXT NOT NULL,
	template    TEXT NOT NULL,
	data        TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	next_at     INTEGER NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	last_error  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX mail_outbox_next_at ON mail_outbox (next_at);
