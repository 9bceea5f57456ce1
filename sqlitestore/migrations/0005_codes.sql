-- OAuth authorization codes (RFC 6749 §4.1.2), stored only as SHA-256.
-- Times are INTEGER unix microseconds, UTC. redeemed_at is NULL until the
-- first redemption; replayed is set by every later one, and session_id
-- by the first redeemer's ConfirmCode: the two marks of the handshake in
-- the authcode package doc. A redeemed code stays until
-- DeleteExpiredCodes, so its replay is still recognised (RFC 9700 §4.5).
CREATE TABLE auth_codes (
	hash            BLOB PRIMARY KEY,
	client_id       TEXT NOT NULL,
	redirect_uri    TEXT NOT NULL,
	challenge       TEXT NOT NULL,
	user_id         TEXT NOT NULL,
	scope           TEXT NOT NULL,
	nonce           TEXT NOT NULL,
	auth_time       INTEGER NOT NULL,
	amr             TEXT NOT NULL,
	browser_session TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	redeemed_at     INTEGER,
	session_id      TEXT NOT NULL DEFAULT '',
	replayed        INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

-- The OAuth client a session was opened for; '' for authd's own pages
-- and for sessions created before this migration.
ALTER TABLE sessions ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
