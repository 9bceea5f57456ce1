-- Token-mode storage: refresh-token chains, signing keys, OAuth clients.
-- Times are INTEGER unix microseconds, UTC; a NULL time is a zero one.

-- A refresh token is stored only as its SHA-256. used_at is NULL until the
-- token is redeemed; UseRefresh sets it with one conditional UPDATE.
CREATE TABLE refresh_tokens (
	hash       BLOB PRIMARY KEY,
	session_id TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	scope      TEXT NOT NULL,
	generation INTEGER NOT NULL,
	issued_at  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER
) WITHOUT ROWID;

-- MaxUsedGeneration: the highest generation of a session's used tokens is
-- the last entry of this index for that session.
CREATE INDEX refresh_tokens_session_used ON refresh_tokens (session_id, generation) WHERE used_at IS NOT NULL;
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- public is PKIX DER; private_sealed is nonce || AES-256-GCM(PKCS #8 DER).
CREATE TABLE signing_keys (
	kid            TEXT PRIMARY KEY,
	alg            TEXT NOT NULL,
	public         BLOB NOT NULL,
	private_sealed BLOB NOT NULL,
	created_at     INTEGER NOT NULL,
	activate_at    INTEGER NOT NULL,
	retire_at      INTEGER
);

CREATE TABLE clients (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	secret_hash BLOB NOT NULL,
	created_at  INTEGER NOT NULL
);

-- RevokedSessions (the revocation feed) reads revoked_at >= ?.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
