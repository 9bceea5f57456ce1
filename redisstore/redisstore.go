// Package redisstore keeps authd's hot, expiring data in Redis: sessions,
// refresh-token chains, the revocation list, authorization codes and
// login-throttle counters. Users, signing keys and clients stay in SQL.
//
// It works against a standalone Redis, Sentinel or Cluster (Redis ≥ 6.2:
// GETDEL, SET … KEEPTTL) through github.com/redis/rueidis, with client-side
// caching off: a revocation must be seen by every instance at once.
//
// # Key design
//
// With the default prefix "authd:" (P below). Times are Unix microseconds,
// the precision the stores promise to round-trip. Every key of a session or
// token expires (TTL = ExpiresAt − Options.Now() + Options.TTLMargin), so
// nothing needs sweeping for memory; DeleteExpired* only make the count
// exact for callers whose clock is ahead of Redis's.
//
// Sessions:
//
//	P h:<hex(secretHash)>    string  the whole session, encoded (see codec.go).
//	                                 THE record: SessionByHash is one GET. Present
//	                                 only while the session is unrevoked.
//	P{s:<sessionID>}         string  the 32-byte secret hash: ID → record.
//	P{u:<userID>}:ss         zset    member raw secret hash, score ExpiresAt:
//	                                 the user's sessions, for List and
//	                                 RevokeUserSessions (no SCAN, no KEYS).
//	P sx:<0..15>             zset    member session ID, score ExpiresAt: the
//	                                 expiry index of DeleteExpiredSessions,
//	                                 sharded over 16 keys (16 slots). Its TTL
//	                                 follows its longest-lived member.
//	P rv                     zset    member "<sessionID>|<ExpiresAt>", score
//	                                 RevokedAt: the revocation list. Trimmed
//	                                 to Options.RevocationRetention on each
//	                                 write, and expires that long after the
//	                                 last one.
//
// Refresh tokens (tokens.go has the details):
//
//	P{s:<sessionID>}:rt      hash    field raw token hash, value the whole
//	                                 token, encoded; UsedAt first. The
//	                                 session's chain, in its ID key's slot.
//	P{s:<sessionID>}:g       zset    member raw token hash, score Generation:
//	                                 the session's used tokens; its top score
//	                                 is the highest used generation.
//	P rs:<0..15>             zset    member session ID, score its earliest
//	                                 token ExpiresAt: the expiry index of
//	                                 DeleteExpiredRefresh; TTL as sx.
//	P r:<hex(hash)>, P rx:<0..15>    tokens of earlier versions (one key
//	                                 each), read and moved on first use.
//
// Authorization codes (codes.go has the details):
//
//	P ac:<hex(hash)>         hash    the code's fields, its redemption and
//	                                 replay marks; TTL past ExpiresAt by
//	                                 Options.CodeRetention.
//	P acx:<0..15>            zset    member raw hash, score ExpiresAt: the
//	                                 expiry index of DeleteExpiredCodes.
//
// Throttle:
//
//	P t:<name>:<key>         hash    f (failures), l (last failure, µs);
//	                                 PEXPIRE Forget.
//
// Cluster safety: every Lua script touches one key, or the keys of one
// session's refresh chain, which share the session's hash tag (one slot).
// Operations that touch several slots are ordered so that a crash between
// steps fails closed:
//
//   - CreateSession writes its four keys in one pipelined round trip
//     (SET NX on the record and on the ID key); on a conflict it removes
//     exactly what it added.
//   - RevokeSession reads the ID key and the record, records the
//     revocation in the revocation list, then GETDELs the record (of
//     concurrent revokers exactly one gets it), and last removes the ID key
//     and the user-index entry in one pipelined round trip. Recording
//     first means a crash half-way leaves a listed revocation of a session
//     that still works until someone revokes it again, never a working
//     access token of a session that no longer does.
//   - RevokeUserSessions ("log out everywhere") reads the user's index zset
//     (one key), GETs every record in one pipelined round trip, records
//     the revocations, GETDELs the records in one pipelined round trip and
//     tidies in a fifth: five round trips whatever the number of sessions,
//     and never a keyspace scan.
//   - TouchSession updates the record in place with a Lua compare-and-set
//     (LastSeenAt never moves back; SET … KEEPTTL), and never recreates a
//     revoked record.
//   - RotateRefresh is one Lua script on the session's chain and used
//     zset: the read, refresh.Decide's rules and every write happen at
//     once, whatever the concurrency.
//   - RedeemCode and ConfirmCode are one Lua script each on the code's
//     one key: the single use and the replay handshake of the authcode
//     package doc. CreateCode writes the key and its expiry-index entry in
//     one pipelined round trip (removing the entry again on a conflict).
//
// Round trips: SessionByHash 1, CreateSession 1, SessionByID 2,
// TouchSession 2, ListSessions 2, RevokeSession 5, RevokeUserSessions 5,
// CreateRefresh 1, RotateRefresh 1 (3 for a token not in its chain),
// RefreshByHash 1, CreateCode 1, RedeemCode 1, ConfirmCode 1, throttle
// Wait/Fail/Reset 1.
//
// Where this backend reads the contracts in its own way:
//
//   - A revoked session is deleted at once (only its revocation-list entry
//     stays), so its ID and hash are no longer "stored": ErrConflict is
//     returned for IDs and hashes of unrevoked sessions only.
//   - DeleteExpiredSessions, DeleteExpiredRefresh and DeleteExpiredCodes
//     count the expiry-index entries they remove, whether Redis had
//     already expired the keys or not. Index entries whose keys are
//     certainly gone by TTL (ExpiresAt older than Now − TTLMargin, and
//     CodeRetention for codes) are also trimmed on every create, so the
//     indexes stay bounded even if nobody sweeps.
//   - An authorization code's key expires CodeRetention after its
//     ExpiresAt even if nobody sweeps: a replay later than that is an
//     unknown code (ErrNotFound), as on the SQL stores after the sweep.
//   - RevokedSessions leaves out sessions whose ExpiresAt is older than
//     Now − TTLMargin (their keys have expired) and revocations older than
//     RevocationRetention.
//   - If a process dies between the steps of a revocation, the session may
//     be listed as revoked while its record still exists: its access
//     tokens are refused, and the session itself ends when the revocation
//     is repeated (the caller saw an error, not a success).
package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/redisstore/internal/redisurl"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
	"github.com/redis/rueidis"
)

var (
	_ session.Store = (*Store)(nil)
	_ refresh.Store = (*Store)(nil)
)

// Options tune a Store. Zero fields take the documented defaults.
type Options struct {
	// Prefix starts every key; default "authd:". It must not contain
	// '{' or '}' (they would change Cluster hash slots).
	Prefix string
	// Now is used only to turn the caller's absolute times into TTLs (and
	// to trim the revocation list); never for a decision the stores'
	// contracts leave to the caller's clock. Default time.Now.
	Now func() time.Time
	// TTLMargin is added to every TTL, so a key outlives its ExpiresAt a
	// little on an instance whose clock lags; default 1 minute.
	TTLMargin time.Duration
	// RevocationRetention is how long revocations stay listed by
	// RevokedSessions; it must cover the access-token lifetime plus leeway
	// (and the revocation feed's backlog). Default 25 hours.
	RevocationRetention time.Duration
	// CodeRetention is how long an authorization code's key outlives its
	// ExpiresAt (on top of TTLMargin), so that a late replay is still
	// recognised as one (RFC 9700 §4.5) rather than as an unknown code.
	// Default 10 minutes.
	CodeRetention time.Duration
}

// Store is a Redis-backed session.Store, refresh.Store and authcode.Store.
// It is safe for concurrent use.
type Store struct {
	c      rueidis.Client
	prefix string
	now    func() time.Time
	margin time.Duration
	retain time.Duration

	codeRetain time.Duration
}

// Open connects to Redis. url is one of
//
//	redis://[user:pass@]host[:port][/db]                 standalone
//	rediss://…                                           standalone over TLS
//	redis-sentinel://[[user:]pass@]host:port,host:port/master[/db]
//	rediss-sentinel://…                                  the same over TLS
//	redis-cluster://[user:pass@]host:port,host:port      Cluster
//	rediss-cluster://…                                   Cluster over TLS
//
// A lone userinfo (scheme://secret@host) is the password; for Sentinel it
// is used for the master and the sentinels alike. The port defaults to 6379 (26379 for sentinels).
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: open: %w", err)
	}
	co, err := redisurl.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	return open(ctx, co, opts)
}

// open is Open with a ready client option. DisableCache and DisableRetry
// are forced on.
func open(ctx context.Context, co rueidis.ClientOption, opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = "authd:"
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: prefix %q must not contain '{' or '}'", opts.Prefix)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TTLMargin <= 0 {
		opts.TTLMargin = time.Minute
	}
	if opts.RevocationRetention <= 0 {
		opts.RevocationRetention = 25 * time.Hour
	}
	if opts.CodeRetention <= 0 {
		opts.CodeRetention = 10 * time.Minute
	}
	co.DisableCache = true // a revocation must be seen at once
	// Fail fast: rueidis would retry read-only commands on network errors
	// until the request deadline, so an outage would cost every request
	// the full deadline instead of an immediate 503 with Retry-After.
	co.DisableRetry = true
	c, err := rueidis.NewClient(co)
	if err != nil {
		return nil, fmt.Errorf("redisstore: connect: %w", err)
	}
	s := &Store{c: c, prefix: opts.Prefix, now: opts.Now, margin: opts.TTLMargin, retain: opts.RevocationRetention,
		codeRetain: opts.CodeRetention}
	if err := s.Ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connections.
func (s *Store) Close() error {
	s.c.Close()
	return nil
}

// Ping reports whether Redis answers (in Cluster mode: the node the client
// picks for PING).
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	if err := s.c.Do(ctx, s.c.B().Ping().Build()).Error(); err != nil {
		return s.fail("ping", ctx, err)
	}
	return nil
}

// fail wraps a Redis error; a done context wins so that errors.Is(err,
// context.Canceled) holds for cancelled calls.
func (s *Store) fail(op string, ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("redisstore: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// ttl is how long a key of something expiring at exp should live.
func (s *Store) ttl(exp time.Time) time.Duration {
	d := exp.Sub(s.now()) + s.margin
	if d < time.Second {
		d = time.Second
	}
	return d
}

// ttlMS is ttl in whole milliseconds (rounded up).
func (s *Store) ttlMS(exp time.Time) int64 {
	return int64((s.ttl(exp) + time.Millisecond - 1) / time.Millisecond)
}

// --- keys ---

const shards = 16

func (s *Store) kLookup(hash []byte) string { return s.prefix + "h:" + hex.EncodeToString(hash) }
func (s *Store) kSessID(id string) string   { return s.prefix + "{s:" + id + "}" }
func (s *Store) kUser(uid string) string    { return s.prefix + "{u:" + uid + "}:ss" }
func (s *Store) kRevoked() string           { return s.prefix + "rv" }
func (s *Store) kSessIdx(id string) string {
	return s.prefix + "sx:" + strconv.Itoa(int(fnv32(id)%shards))
}
func (s *Store) kSessIdxN(i int) string { return s.prefix + "sx:" + strconv.Itoa(i) }
func (s *Store) kRefresh(hash []byte) string {
	return s.prefix + "r:" + hex.EncodeToString(hash)
}
func (s *Store) kGens(sid string) string { return s.prefix + "{s:" + sid + "}:g" }
func (s *Store) kRefIdx(hash []byte) string {
	return s.prefix + "rx:" + strconv.Itoa(int(hash[0])%shards)
}
func (s *Store) kRefIdxN(i int) string { return s.prefix + "rx:" + strconv.Itoa(i) }
func (s *Store) kThrottle(name, key string) string {
	return s.prefix + "t:" + name + ":" + key
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// --- scripts ---

// script is a Lua script run with EVALSHA, falling back to EVAL when the
// node does not know it yet (after a restart or a failover). Unlike
// rueidis.Lua it can be mixed with plain commands in one DoMulti.
type script struct {
	body string
	sha  string
}

func newScript(body string) *script {
	sum := sha1.Sum([]byte(body))
	return &script{body: body, sha: hex.EncodeToString(sum[:])}
}

// op is one command of a pipelined batch; eval, when set, rebuilds it as
// EVAL for the NOSCRIPT fallback.
type op struct {
	cmd  rueidis.Completed
	eval func() rueidis.Completed
}

func (s *Store) plain(cmd rueidis.Completed) op { return op{cmd: cmd} }

func (s *Store) lua(sc *script, key string, args ...string) op {
	return op{
		cmd: s.c.B().Evalsha().Sha1(sc.sha).Numkeys(1).Key(key).Arg(args...).Build(),
		eval: func() rueidis.Completed {
			return s.c.B().Eval().Script(sc.body).Numkeys(1).Key(key).Arg(args...).Build()
		},
	}
}

// do runs ops in one pipelined round trip (one per node in Cluster mode)
// and returns their results in order, retrying NOSCRIPT with EVAL.
func (s *Store) do(ctx context.Context, ops ...op) []rueidis.RedisResult {
	if len(ops) == 0 {
		return nil
	}
	cmds := make(rueidis.Commands, len(ops))
	for i, o := range ops {
		cmds[i] = o.cmd
	}
	res := s.c.DoMulti(ctx, cmds...)
	var retry []int
	for i, r := range res {
		if e, ok := rueidis.IsRedisErr(r.Error()); ok && e.IsNoScript() && ops[i].eval != nil {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		again := make(rueidis.Commands, len(retry))
		for j, i := range retry {
			again[j] = ops[i].eval()
		}
		for j, r := range s.c.DoMulti(ctx, again...) {
			res[retry[j]] = r
		}
	}
	return res
}

func (s *Store) do1(ctx context.Context, o op) rueidis.RedisResult { return s.do(ctx, o)[0] }

// zaddScript adds members to a zset (ARGV[1] "nx": only new members, else
// set scores), trims scores below ARGV[2] (unless ""), and extends the TTL
// to ARGV[3] ms when that is longer (unless "0"). ARGV[4…] are score,
// member pairs. It returns how many members were added.
var zaddScript = newScript(`
local k = KEYS[1]
local added = 0
for i = 4, #ARGV, 2 do
  if ARGV[1] == 'nx' then
    added = added + redis.call('ZADD', k, 'NX', ARGV[i], ARGV[i+1])
  else
    added = added + redis.call('ZADD', k, ARGV[i], ARGV[i+1])
  end
end
if ARGV[2] ~= '' then
  redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. ARGV[2])
end
local ms = tonumber(ARGV[3])
if ms > 0 then
  local t = redis.call('PTTL', k)
  if t == -1 or (t >= 0 and t < ms) then
    redis.call('PEXPIRE', k, ms)
  end
end
return added
`)

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

func isNil(err error) bool { return rueidis.IsRedisNil(err) }
