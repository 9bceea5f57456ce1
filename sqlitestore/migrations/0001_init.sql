-- Times are INTEGER unix microseconds, UTC. revoked_at is NULL while live.
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	disabled      INTEGER NOT NULL DEFAULT 0
);

-- No foreign key to users: a revoked session outlives a deleted user until
-- it expires and DeleteExpiredSessions removes it.
CREATE TABLE sessions (
	id              TEXT PRIMARY KEY,
	secret_hash     BLOB NOT NULL UNIQUE,
	user_id         TEXT NOT NULL,
	kind            TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	last_seen_at    INTEGER NOT NULL,
	idle_expires_at INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	ip              TEXT NOT NULL,
	user_agent      TEXT NOT NULL,
	revoked_at      INTEGER
);

CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
