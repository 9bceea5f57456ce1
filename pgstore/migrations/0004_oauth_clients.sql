-- OAuth client registration (client.Client: public and first-party
-- clients, redirect URIs, scopes, grant types, logout URIs, ID token
-- algorithm) and remembered consent. Lists are TEXT[], '{}' when empty;
-- an empty string is an absent URI or algorithm. secret_hash is NULL for
-- a public client, which has no secret.
ALTER TABLE clients
	ALTER COLUMN secret_hash DROP NOT NULL,
	ADD COLUMN public                    BOOLEAN NOT NULL DEFAULT FALSE,
	ADD COLUMN first_party               BOOLEAN NOT NULL DEFAULT FALSE,
	ADD COLUMN redirect_uris             TEXT[] NOT NULL DEFAULT '{}',
	ADD COLUMN post_logout_redirect_uris TEXT[] NOT NULL DEFAULT '{}',
	ADD COLUMN scopes                    TEXT[] NOT NULL DEFAULT '{}',
	ADD COLUMN grant_types               TEXT[] NOT NULL DEFAULT '{}',
	ADD COLUMN backchannel_logout_uri    TEXT NOT NULL DEFAULT '',
	ADD COLUMN id_token_alg              TEXT NOT NULL DEFAULT '';

-- The clients registered so far are services (`authd client add NAME`,
-- for introspection and the revocation feed): they keep exactly that,
-- client_credentials, and no redirect URI, rather than the defaults
-- (authorization_code, which needs a redirect URI).
UPDATE clients SET grant_types = '{client_credentials}';

-- A user's remembered consent to a client: the scopes (sorted) and when
-- it was last given. It goes with its user or its client.
CREATE TABLE consents (
	user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id  TEXT COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
	scopes     TEXT[] NOT NULL,
	granted_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (user_id, client_id)
);

-- The cascade from clients finds a client's consents by client_id.
CREATE INDEX consents_client_id ON consents (client_id);
