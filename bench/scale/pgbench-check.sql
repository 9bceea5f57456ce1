-- The session check's query for pgbench, on a database filled by bench/scale
-- (secret i is base64url(SHA-256("secret" || int8 i)); the store keeps its SHA-256):
--   pgbench -n -M prepared -f bench/scale/pgbench-check.sql -D n=1000000 -T 8 -c 1 DB
\set i random(0, :n - 1)
SELECT id, user_id, kind, created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent FROM sessions WHERE secret_hash = sha256(convert_to(translate(rtrim(encode(sha256('\x736563726574'::bytea || int8send(:i)), 'base64'), '='), '+/', '-_'), 'UTF8')) AND revoked_at IS NULL AND expires_at > now() AND idle_expires_at > now();
