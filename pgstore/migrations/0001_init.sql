-- authd's PostgreSQL schema. It mirrors sqlitestore's (0001 + 0002) with
-- native types: times are TIMESTAMPTZ (microsecond precision, read back as
-- UTC), byte strings BYTEA, flags BOOLEAN. A NULL time is a zero one.
--
-- Text keys use the "C" collation: comparisons and ORDER BY are byte-wise,
-- as in SQLite's BINARY collation and memstore, whatever the database's
-- locale is; it is also the cheapest collation for B-tree lookups.

CREATE TABLE users (
	id            TEXT COLLATE "C" PRIMARY KEY,
	email         TEXT COLLATE "C" NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	created_at    TIMESTAMPTZ NOT NULL,
	updated_at    TIMESTAMPTZ NOT NULL,
	disabled      BOOLEAN NOT NULL DEFAULT FALSE
);

-- No foreign key to users: a revoked session outlives a deleted user until
-- it expires and DeleteExpiredSessions removes it. revoked_at is NULL while
-- the session is live.
CREATE TABLE sessions (
	id              TEXT COLLATE "C" PRIMARY KEY,
	secret_hash     BYTEA NOT NULL UNIQUE,
	user_id         TEXT COLLATE "C" NOT NULL,
	kind            TEXT NOT NULL,
	created_at      TIMESTAMPTZ NOT NULL,
	last_seen_at    TIMESTAMPTZ NOT NULL,
	idle_expires_at TIMESTAMPTZ NOT NULL,
	expires_at      TIMESTAMPTZ NOT NULL,
	ip              TEXT NOT NULL,
	user_agent      TEXT NOT NULL,
	revoked_at      TIMESTAMPTZ
);

-- SessionByHash (the hot path) uses the UNIQUE index on secret_hash.
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
-- RevokedSessions (the revocation feed) reads revoked_at >= $1.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- A refresh token is stored only as its SHA-256. used_at is NULL until the
-- token is redeemed; UseRefresh sets it with one conditional UPDATE.
CREATE TABLE refresh_tokens (
	hash       BYTEA PRIMARY KEY,
	session_id TEXT COLLATE "C" NOT NULL,
	user_id    TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	scope      TEXT NOT NULL,
	generation INTEGER NOT NULL,
	issued_at  TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL,
	used_at    TIMESTAMPTZ
);

-- MaxUsedGeneration: the highest generation of a session's used tokens is
-- the last entry of this index for that session.
CREATE INDEX refresh_tokens_session_used ON refresh_tokens (session_id, generation) WHERE used_at IS NOT NULL;
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- public is PKIX DER; private_sealed is nonce || AES-256-GCM(PKCS #8 DER).
CREATE TABLE signing_keys (
	kid            TEXT COLLATE "C" PRIMARY KEY,
	alg            TEXT NOT NULL,
	public         BYTEA NOT NULL,
	private_sealed BYTEA NOT NULL,
	created_at     TIMESTAMPTZ NOT NULL,
	activate_at    TIMESTAMPTZ NOT NULL,
	retire_at      TIMESTAMPTZ
);

CREATE TABLE clients (
	id          TEXT COLLATE "C" PRIMARY KEY,
	name        TEXT COLLATE "C" NOT NULL UNIQUE,
	secret_hash BYTEA NOT NULL,
	created_at  TIMESTAMPTZ NOT NULL
);
