package redisstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/authcode"
)

var _ authcode.Store = (*Store)(nil)

// Authorization-code keys. Every operation on a code is one Lua script on
// its one key, so it is atomic on standalone Redis, Sentinel and Cluster
// alike:
//
//	P ac:<hex(hash)>         hash    the code's fields (below); TTL
//	                                 ExpiresAt + CodeRetention + TTLMargin
//	                                 from Now, so a replay within the
//	                                 retention is still recognised.
//	P acx:<0..15>            zset    member raw hash, score ExpiresAt: the
//	                                 expiry index of DeleteExpiredCodes,
//	                                 sharded by the hash's first byte.
//
// Fields: c client ID, r redirect URI, ch code challenge, u user ID, s
// scope, n nonce, t auth time, amr, bs browser session, cr created, ex
// expires, rd redeemed ("" until the first RedeemCode), sid the session
// ConfirmCode recorded, rp "1" once a replay was seen. Times are Unix
// microseconds.

func (s *Store) kCode(hash []byte) string { return s.prefix + "ac:" + hex.EncodeToString(hash) }
func (s *Store) kCodeIdx(hash []byte) string {
	return s.prefix + "acx:" + strconv.Itoa(int(hash[0])%shards)
}
func (s *Store) kCodeIdxN(i int) string { return s.prefix + "acx:" + strconv.Itoa(i) }

// createCodeScript stores a code unless its key exists (returns 0).
// ARGV: TTL (ms), then field, value pairs.
var createCodeScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`)

// codeIdxScript lists a code in an expiry index: it first trims entries
// below ARGV[1] (codes whose keys are gone by TTL), then adds member
// ARGV[4] with score ARGV[3] (ExpiresAt) unless it is there, and extends
// the index's TTL to ARGV[2] ms. It returns how many members it added.
// Trimming first keeps the new entry even for a code created already
// past its retention (its key lives the minimum TTL, 1 s): the sweep
// still finds it. (A second such code created within that second in the
// same shard trims the first's entry: that key then just expires
// uncounted. Codes are created with ExpiresAt ahead, never like this.)
var codeIdxScript = newScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local added = redis.call('ZADD', KEYS[1], 'NX', ARGV[3], ARGV[4])
local ms = tonumber(ARGV[2])
local t = redis.call('PTTL', KEYS[1])
if t == -1 or (t >= 0 and t < ms) then redis.call('PEXPIRE', KEYS[1], ms) end
return added
`)

// redeemCodeScript marks a code redeemed at ARGV[1] (µs) the first time
// and replayed every later time, and returns {1 for the first time else
// 0, the code's fields after the write}; nil when there is no code. The
// read and the mark are one script: of concurrent redemptions exactly one
// is the first (RFC 6749 §4.1.2), and a replay reads the session Confirm
// recorded before it, or leaves its mark for a Confirm after it (RFC 9700
// §4.5; the handshake of the authcode package doc).
var redeemCodeScript = newScript(`
local rd = redis.call('HGET', KEYS[1], 'rd')
if not rd then return false end
local first = 0
if rd == '' then
  redis.call('HSET', KEYS[1], 'rd', ARGV[1])
  first = 1
else
  redis.call('HSET', KEYS[1], 'rp', '1')
end
return {first, redis.call('HGETALL', KEYS[1])}
`)

// confirmCodeScript records the session ARGV[1] of a redeemed code and
// returns its replay mark (0 or 1); -1 when there is no redeemed code.
var confirmCodeScript = newScript(`
local rd = redis.call('HGET', KEYS[1], 'rd')
if not rd or rd == '' then return -1 end
redis.call('HSET', KEYS[1], 'sid', ARGV[1])
return tonumber(redis.call('HGET', KEYS[1], 'rp')) or 0
`)

func microsOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return micros(t)
}

// CreateCode implements authcode.Store in one pipelined round trip: the
// code's key (created only if absent) and its expiry-index entry; on a
// conflict the entry is removed again if this call added it.
func (s *Store) CreateCode(ctx context.Context, c *authcode.Code) error {
	const opName = "create authorization code"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: %s: %w", opName, err)
	}
	if len(c.Hash) != 32 {
		return authd.Invalid("hash", "invalid", "authorization code hash must be 32 bytes")
	}
	ttl := s.codeTTLMS(c.ExpiresAt)
	k, idx := s.kCode(c.Hash), s.kCodeIdx(c.Hash)
	res := s.do(ctx,
		s.lua(createCodeScript, k, strconv.FormatInt(ttl, 10),
			"c", c.ClientID, "r", c.RedirectURI, "ch", c.Challenge, "u", c.UserID, "s", c.Scope, "n", c.Nonce,
			"t", micros(c.AuthTime), "amr", c.AMR, "bs", c.BrowserSession, "cr", micros(c.CreatedAt),
			"ex", micros(c.ExpiresAt), "rd", microsOrEmpty(c.RedeemedAt), "sid", c.SessionID, "rp", "0"),
		s.lua(codeIdxScript, idx, micros(s.now().Add(-s.margin-s.codeRetain)), strconv.FormatInt(ttl, 10),
			micros(c.ExpiresAt), string(c.Hash)),
	)
	created, err := res[0].AsInt64()
	added, ierr := res[1].AsInt64()
	if err == nil && ierr == nil && created == 1 {
		return nil
	}
	if ierr == nil && added > 0 && created != 1 {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		s.do(uctx, s.plain(s.c.B().Zrem().Key(idx).Member(string(c.Hash)).Build()))
	}
	if err == nil {
		err = ierr
	}
	if err != nil {
		return s.fail(opName, ctx, err)
	}
	return authd.ErrConflict
}

// codeTTLMS is the TTL of a code's keys in ms: past its ExpiresAt by the
// retention, so that its replay is still recognised (RFC 9700 §4.5).
func (s *Store) codeTTLMS(exp time.Time) int64 { return s.ttlMS(exp.Add(s.codeRetain)) }

// RedeemCode implements authcode.Store: one Lua script on the code's key
// (redeemCodeScript).
func (s *Store) RedeemCode(ctx context.Context, hash []byte, at time.Time) (*authcode.Code, error) {
	const opName = "redeem authorization code"
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", opName, err)
	}
	if len(hash) != 32 {
		return nil, authd.ErrNotFound
	}
	arr, err := s.do1(ctx, s.lua(redeemCodeScript, s.kCode(hash), micros(at))).ToArray()
	if isNil(err) {
		return nil, authd.ErrNotFound
	}
	if err == nil && len(arr) != 2 {
		err = errCorrupt
	}
	if err != nil {
		return nil, s.fail(opName, ctx, err)
	}
	first, err := arr[0].AsInt64()
	if err != nil {
		return nil, s.fail(opName, ctx, err)
	}
	fields, err := arr[1].AsStrSlice()
	if err != nil {
		return nil, s.fail(opName, ctx, err)
	}
	c, err := decodeCode(hash, fields)
	if err != nil {
		return nil, s.fail(opName, ctx, err)
	}
	if first != 1 {
		return c, authd.ErrTokenReused
	}
	return c, nil
}

// ConfirmCode implements authcode.Store: one Lua script on the code's key
// (confirmCodeScript). A code not redeemed yet is authd.ErrNotFound.
func (s *Store) ConfirmCode(ctx context.Context, hash []byte, sessionID string) (bool, error) {
	const opName = "confirm authorization code"
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("redisstore: %s: %w", opName, err)
	}
	if len(hash) != 32 {
		return false, authd.ErrNotFound
	}
	n, err := s.do1(ctx, s.lua(confirmCodeScript, s.kCode(hash), sessionID)).AsInt64()
	if err != nil {
		return false, s.fail(opName, ctx, err)
	}
	if n < 0 {
		return false, authd.ErrNotFound
	}
	return n == 1, nil
}

// decodeCode reads HGETALL's field, value pairs.
func decodeCode(hash []byte, kv []string) (*authcode.Code, error) {
	if len(kv)%2 != 0 {
		return nil, errCorrupt
	}
	f := make(map[string]string, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		f[kv[i]] = kv[i+1]
	}
	var bad bool
	tm := func(name string, optional bool) time.Time {
		v, ok := f[name]
		if optional && v == "" {
			return time.Time{}
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			bad = true
			return time.Time{}
		}
		return time.UnixMicro(n).UTC()
	}
	c := &authcode.Code{
		Hash: append([]byte(nil), hash...), ClientID: f["c"], RedirectURI: f["r"], Challenge: f["ch"],
		UserID: f["u"], Scope: f["s"], Nonce: f["n"], AuthTime: tm("t", false), AMR: f["amr"],
		BrowserSession: f["bs"], CreatedAt: tm("cr", false), ExpiresAt: tm("ex", false),
		RedeemedAt: tm("rd", true), SessionID: f["sid"],
	}
	if bad {
		return nil, errCorrupt
	}
	return c, nil
}

// DeleteExpiredCodes implements authcode.Store from the expiry index, in
// batches: it deletes the keys of every indexed code whose ExpiresAt is
// before before and counts the index entries it removed (a key already
// gone by TTL is counted too: the code was past before and is now
// removed).
func (s *Store) DeleteExpiredCodes(ctx context.Context, before time.Time) (int, error) {
	const opName = "delete expired authorization codes"
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("redisstore: %s: %w", opName, err)
	}
	b := s.c.B()
	max := "(" + micros(before)
	total := 0
	for shard := range shards {
		idx := s.kCodeIdxN(shard)
		for {
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("redisstore: %s: %w", opName, err)
			}
			hashes, err := s.c.Do(ctx, b.Zrangebyscore().Key(idx).Min("-inf").Max(max).Limit(0, sweepBatch).Build()).AsStrSlice()
			if err != nil && !isNil(err) {
				return total, s.fail(opName, ctx, err)
			}
			if len(hashes) == 0 {
				break
			}
			ops := make([]op, 0, len(hashes)+1)
			for _, h := range hashes {
				ops = append(ops, s.plain(b.Del().Key(s.kCode([]byte(h))).Build()))
			}
			ops = append(ops, s.plain(b.Zrem().Key(idx).Member(hashes...).Build()))
			res := s.do(ctx, ops...)
			for _, r := range res {
				if err := r.Error(); err != nil {
					return total, s.fail(opName, ctx, err)
				}
			}
			n, err := res[len(res)-1].AsInt64()
			if err != nil {
				return total, s.fail(opName, ctx, err)
			}
			total += int(n)
			if len(hashes) < sweepBatch {
				break
			}
		}
	}
	return total, nil
}
