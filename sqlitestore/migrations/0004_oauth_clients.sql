-- OAuth client registration (client.Client: public and first-party
-- clients, redirect URIs, scopes, grant types, logout URIs, ID token
-- algorithm) and remembered consent.
--
-- secret_hash becomes nullable (a public client has no secret). SQLite
-- cannot drop NOT NULL in place, so the table is rebuilt; nothing refers
-- to clients yet. List columns hold a JSON array of strings, '[]' when
-- empty: JSON round-trips any string, separators and quotes included.
-- A flag is INTEGER 0 or 1. An empty string is an absent URI or algorithm.
CREATE TABLE clients_new (
	id                        TEXT PRIMARY KEY,
	name                      TEXT NOT NULL UNIQUE,
	secret_hash               BLOB,
	created_at                INTEGER NOT NULL,
	public                    INTEGER NOT NULL DEFAULT 0,
	first_party               INTEGER NOT NULL DEFAULT 0,
	redirect_uris             TEXT NOT NULL DEFAULT '[]',
	post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
	scopes                    TEXT NOT NULL DEFAULT '[]',
	grant_types               TEXT NOT NULL DEFAULT '[]',
	backchannel_logout_uri    TEXT NOT NULL DEFAULT '',
	id_token_alg              TEXT NOT NULL DEFAULT ''
);

-- The clients registered so far are services (`authd client add NAME`,
-- for introspection and the revocation feed): they keep exactly that,
-- client_credentials, and no redirect URI, rather than the defaults
-- (authorization_code, which needs a redirect URI).
INSERT INTO clients_new (id, name, secret_hash, created_at, grant_types)
	SELECT id, name, secret_hash, created_at, '["client_credentials"]' FROM clients;
DROP TABLE clients;
ALTER TABLE clients_new RENAME TO clients;

-- A user's remembered consent to a client: the scopes (a JSON array,
-- sorted) and when it was last given. It goes with its user or its
-- client (foreign_keys is ON on every connection).
CREATE TABLE consents (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
	scopes     TEXT NOT NULL,
	granted_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, client_id)
) WITHOUT ROWID;

-- The cascade from clients finds a client's consents by client_id.
CREATE INDEX consents_client_id ON consents (client_id);
