-- A signing key withdrawn before its time (`authd keys revoke`): from
-- revoked_at on it is neither published nor used to verify. NULL: not
-- revoked.
ALTER TABLE signing_keys ADD COLUMN revoked_at TIMESTAMPTZ;
