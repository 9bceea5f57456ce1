-- Issue 11: second factors and passkeys.

-- How each session was authenticated (RFC 8176 values, space-separated);
-- '' for sessions begun before this migration (password sign-ins).
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '';
-- When the user proved who they are for the session (OIDC auth_time):
-- its creation for a sign-in, the approving browser session's sign-in for
-- an app's session from the code flow. NULL before this migration.
ALTER TABLE sessions ADD COLUMN auth_at TIMESTAMPTZ;

-- A user's TOTP secret, sealed under the KEK; pending while confirmed_at
-- is NULL. last_step is the last time step a code was accepted for.
CREATE TABLE mfa_totp (
	user_id      TEXT COLLATE "C" PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret       BYTEA NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	confirmed_at TIMESTAMPTZ,
	last_step    BIGINT NOT NULL DEFAULT 0
);

-- Unused recovery codes, keyed HMAC-SHA-256 of the code.
CREATE TABLE mfa_recovery_codes (
	user_id   TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash BYTEA NOT NULL,
	PRIMARY KEY (user_id, code_hash)
);

-- Short-lived single-use challenges: a sign-in waiting for its second
-- factor, a WebAuthn ceremony. hash is SHA-256 of the client's token.
CREATE TABLE mfa_challenges (
	hash       BYTEA PRIMARY KEY,
	kind       TEXT COLLATE "C" NOT NULL,
	user_id    TEXT COLLATE "C" NOT NULL,
	data       BYTEA NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	created_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);
CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id);

-- Passkeys (WebAuthn credentials).
CREATE TABLE webauthn_credentials (
	id               BYTEA PRIMARY KEY,
	user_id          TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	public_key       BYTEA NOT NULL,
	sign_count       BIGINT NOT NULL,
	transports       TEXT NOT NULL DEFAULT '',
	aaguid           BYTEA NOT NULL,
	attestation_type TEXT NOT NULL DEFAULT '',
	backup_eligible  BOOLEAN NOT NULL,
	backup_state     BOOLEAN NOT NULL,
	user_verified    BOOLEAN NOT NULL,
	name             TEXT NOT NULL,
	created_at       TIMESTAMPTZ NOT NULL,
	last_used_at     TIMESTAMPTZ
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);
