-- Issue 11: second factors and passkeys. Times are unix microseconds.

-- How each session was authenticated (RFC 8176 values, space-separated);
-- '' for sessions begun before this migration (password sign-ins).
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
-- When the user proved who they are for the session (OIDC auth_time):
-- its creation for a sign-in, the approving browser session's sign-in for
-- an app's session from the code flow. NULL before this migration.
ALTER TABLE sessions ADD COLUMN auth_at INTEGER;

-- A user's TOTP secret, sealed under the KEK; pending while confirmed_at
-- is NULL. last_step is the last time step a code was accepted for.
CREATE TABLE mfa_totp (
	user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret       BLOB NOT NULL,
	created_at   INTEGER NOT NULL,
	confirmed_at INTEGER,
	last_step    INTEGER NOT NULL DEFAULT 0
);

-- Unused recovery codes, keyed HMAC-SHA-256 of the code.
CREATE TABLE mfa_recovery_codes (
	user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash BLOB NOT NULL,
	PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

-- Short-lived single-use challenges: a sign-in waiting for its second
-- factor, a WebAuthn ceremony. hash is SHA-256 of the client's token.
CREATE TABLE mfa_challenges (
	hash       BLOB PRIMARY KEY,
	kind       TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	data       BLOB NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);
CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id);

-- Passkeys (WebAuthn credentials).
CREATE TABLE webauthn_credentials (
	id               BLOB PRIMARY KEY,
	user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	public_key       BLOB NOT NULL,
	sign_count       INTEGER NOT NULL,
	transports       TEXT NOT NULL DEFAULT '',
	aaguid           BLOB NOT NULL,
	attestation_type TEXT NOT NULL DEFAULT '',
	backup_eligible  INTEGER NOT NULL,
	backup_state     INTEGER NOT NULL,
	user_verified    INTEGER NOT NULL,
	name             TEXT NOT NULL,
	created_at       INTEGER NOT NULL,
	last_used_at     INTEGER
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);
