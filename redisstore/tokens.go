package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/refresh"
	"github.com/redis/rueidis"
)

// Refresh-token keys, all of one session in its hash slot (the {s:<ID>}
// tag of the session's ID key), so RotateRefresh is one Lua script on
// declared keys that Cluster runs on one node:
//
//	P{s:<sessionID>}:rt      hash    field raw token hash, value the encoded
//	                                 token (codec.go): the session's chain.
//	P{s:<sessionID>}:g       zset    member raw token hash, score Generation:
//	                                 the session's used tokens.
//	P rs:<0..15>             zset    member session ID, score the earliest
//	                                 ExpiresAt of its tokens: the expiry
//	                                 index of DeleteExpiredRefresh.
//
// Tokens stored by earlier versions (one string key P r:<hex(hash)> each,
// indexed in P rx:<0..15>) are still honoured: a redemption or look-up that
// misses reads the old key, and a redemption moves the token into its
// session's hash first (see importLegacy). Upgrade every instance
// together: an old instance does not see tokens stored the new way.

func (s *Store) kTokens(sid string) string { return s.prefix + "{s:" + sid + "}:rt" }
func (s *Store) kRefSess(sid string) string {
	return s.prefix + "rs:" + strconv.Itoa(int(fnv32(sid)%shards))
}
func (s *Store) kRefSessN(i int) string { return s.prefix + "rs:" + strconv.Itoa(i) }

// ttlLua extends the TTL of KEYS[1] and KEYS[2] to cover expiry exp
// (µs) from ARGV[now] (µs) plus ARGV[margin] (ms); never shortens it.
const ttlLua = `
local function extend(exp, now, margin)
  local ms = math.floor((exp - now) / 1000) + margin
  if ms < 1000 then ms = 1000 end
  for k = 1, 2 do
    local t = redis.call('PTTL', KEYS[k])
    if t == -1 or (t >= 0 and t < ms) then redis.call('PEXPIRE', KEYS[k], ms) end
  end
end
`

// createScript stores a token in its session's hash unless the field
// exists (returns 0), and lists it in the used zset when it is used.
// KEYS: tokens, used. ARGV: hash, record, generation, expires, now, margin.
var createScript = newScript(ttlLua + `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if string.byte(ARGV[2], 1) ~= 124 then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
extend(tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
return 1
`)

// rotateScript is refresh.Decide and its writes, rule for rule (the
// numbers are the rules of the refresh package doc; the codes are
// refresh.Outcome values, 0 a child-hash conflict). RotateRefresh checks
// every answer against refresh.Decide.
//
// KEYS: tokens, used. ARGV: hash, generation, at (µs), grace (µs), client
// ID, child hash, now (µs), margin (ms), requested scope tokens…
// Returns {code, the stored record before the operation or false, maxUsed}.
var rotateScript = newScript(ttlLua + `
local rec = redis.call('HGET', KEYS[1], ARGV[1])
local top = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local maxUsed = -1
if top[2] then maxUsed = tonumber(top[2]) end
local gen = tonumber(ARGV[2])
local used, g, exp, rest
if rec then used, g, exp, rest = string.match(rec, '^(%-?%d*)|(%d+)|%-?%d*|(%-?%d*)|(.*)$') end
if not g or tonumber(g) ~= gen then -- 1
  if gen <= maxUsed then return {4, false, maxUsed} end
  return {1, false, maxUsed}
end
local function str(s, i)
  local c = string.find(s, ':', i, true)
  local n = tonumber(string.sub(s, i, c - 1))
  return string.sub(s, c + 1, c + n), c + n + 1
end
local _, uid, cid, scope, i
_, i = str(rest, 1)
uid, i = str(rest, i)
cid, i = str(rest, i)
scope = str(rest, i)
local at, grace, expN = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(exp) or 0
local code
if cid ~= ARGV[5] then code = 6 end -- 2
if not code and #ARGV >= 9 then -- 3
  local have = {}
  for w in string.gmatch(scope, '%S+') do have[w] = true end
  for k = 9, #ARGV do
    if not have[ARGV[k]] then code = 7 break end
  end
end
if not code then
  if used ~= '' then -- 4
    local age = at - tonumber(used)
    if age < 0 then age = 0 end
    if grace <= 0 or age >= grace or maxUsed > gen then code = 4
    elseif at >= expN then code = 5
    else code = 3 end
  elseif maxUsed >= gen then code = 4 -- 5
  elseif at >= expN then code = 5 -- 6
  else code = 2 end -- 7
end
if code ~= 2 and code ~= 3 then return {code, rec, maxUsed} end
if redis.call('HEXISTS', KEYS[1], ARGV[6]) == 1 then return {0, rec, maxUsed} end
if code == 2 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3] .. rec)
  redis.call('ZADD', KEYS[2], gen, ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[6], '|' .. (gen + 1) .. '|' .. ARGV[3] .. '|' .. exp .. '|' .. rest)
local below = '(' .. (gen - 1)
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', below)
if #old > 0 then
  redis.call('HDEL', KEYS[1], unpack(old))
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', below)
end
extend(expN, tonumber(ARGV[7]), tonumber(ARGV[8]))
return {code, rec, maxUsed}
`)

// sweepScript deletes the session's tokens expiring before ARGV[1] (µs)
// and returns {how many, the earliest remaining ExpiresAt or -1}.
// KEYS: tokens, used.
var sweepScript = newScript(`
local all = redis.call('HGETALL', KEYS[1])
local n, min = 0, -1
for i = 1, #all, 2 do
  local exp = tonumber(string.match(all[i + 1], '^%-?%d*|%d+|%-?%d*|(%-?%d*)|'))
  if not exp or exp < tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[1], all[i])
    redis.call('ZREM', KEYS[2], all[i])
    n = n + 1
  elseif min == -1 or exp < min then
    min = exp
  end
end
return {n, min}
`)

// refIdxScript lists a session in the expiry index with score ARGV[1]
// unless it is there with an earlier one (ZADD LT, Redis 6.2), trims
// entries below ARGV[2] (sessions gone by TTL) and extends the index's TTL
// to ARGV[3] ms.
var refIdxScript = newScript(`
redis.call('ZADD', KEYS[1], 'LT', ARGV[1], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
local ms = tonumber(ARGV[3])
local t = redis.call('PTTL', KEYS[1])
if t == -1 or (t >= 0 and t < ms) then redis.call('PEXPIRE', KEYS[1], ms) end
return 1
`)

// lua2 is lua for a script on two keys (of one hash slot).
func (s *Store) lua2(sc *script, k1, k2 string, args ...string) op {
	return op{
		cmd: s.c.B().Evalsha().Sha1(sc.sha).Numkeys(2).Key(k1, k2).Arg(args...).Build(),
		eval: func() rueidis.Completed {
			return s.c.B().Eval().Script(sc.body).Numkeys(2).Key(k1, k2).Arg(args...).Build()
		},
	}
}

func (s *Store) marginMS() string { return strconv.FormatInt(s.margin.Milliseconds(), 10) }

// create stores rt in its session's hash and lists the session in the
// expiry index, in one pipelined round trip; false when the session
// already has a token with that hash.
func (s *Store) create(ctx context.Context, opName string, rt *refresh.Refresh) (bool, error) {
	res := s.do(ctx,
		s.lua2(createScript, s.kTokens(rt.SessionID), s.kGens(rt.SessionID), string(rt.Hash), encodeRefresh(rt),
			strconv.Itoa(rt.Generation), micros(rt.ExpiresAt), micros(s.now()), s.marginMS()),
		s.lua(refIdxScript, s.kRefSess(rt.SessionID), micros(rt.ExpiresAt), micros(s.now().Add(-s.margin)),
			strconv.FormatInt(s.ttlMS(rt.ExpiresAt), 10), rt.SessionID),
	)
	added, err := res[0].AsInt64()
	if err == nil {
		err = res[1].Error()
	}
	if err != nil {
		return false, s.fail(opName, ctx, err)
	}
	return added == 1, nil
}

// CreateRefresh implements refresh.Store: one round trip. The hash is
// unique within the session (authd.ErrConflict); tokens are 256 random
// bits, so across sessions it is unique by construction.
func (s *Store) CreateRefresh(ctx context.Context, rt *refresh.Refresh) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: create refresh: %w", err)
	}
	if len(rt.Hash) != 32 {
		return authd.Invalid("hash", "invalid", "refresh token hash must be 32 bytes")
	}
	added, err := s.create(ctx, "create refresh", rt)
	if err != nil {
		return err
	}
	if !added {
		return authd.ErrConflict
	}
	return nil
}

// RotateRefresh implements refresh.Store: one Lua script (rotateScript)
// on the session's two keys, one round trip. Only when the token is not in
// its session's hash (rule 1) does it look for a token stored by an
// earlier version, and decide again.
func (s *Store) RotateRefresh(ctx context.Context, rot *refresh.Rotation) (*refresh.Result, error) {
	const opName = "rotate refresh"
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", opName, err)
	}
	if len(rot.ChildHash) != 32 {
		return nil, authd.Invalid("child_hash", "invalid", "refresh token hash must be 32 bytes")
	}
	res, err := s.rotate(ctx, rot)
	if err != nil || res.Token != nil || len(rot.Hash) != 32 {
		return res, err
	}
	if err := s.importLegacy(ctx, rot.SessionID, rot.Hash); err != nil {
		return nil, err
	}
	// Decide again even when there was nothing to import: another caller
	// may have imported the token between our script and our read.
	return s.rotate(ctx, rot)
}

func (s *Store) rotate(ctx context.Context, rot *refresh.Rotation) (*refresh.Result, error) {
	const opName = "rotate refresh"
	args := []string{string(rot.Hash), strconv.Itoa(rot.Generation), micros(rot.At),
		strconv.FormatInt(rot.Grace.Microseconds(), 10), rot.ClientID, string(rot.ChildHash),
		micros(s.now()), s.marginMS()}
	args = append(args, rot.Scope...)
	arr, err := s.do1(ctx, s.lua2(rotateScript, s.kTokens(rot.SessionID), s.kGens(rot.SessionID), args...)).ToArray()
	if err != nil {
		return nil, s.fail(opName, ctx, err)
	}
	if len(arr) != 3 {
		return nil, s.fail(opName, ctx, errCorrupt)
	}
	code, err1 := arr[0].AsInt64()
	maxUsed, err2 := arr[2].AsInt64()
	var stored *refresh.Refresh
	rec, err3 := arr[1].ToString()
	if isNil(err3) {
		err3 = nil
	} else if err3 == nil {
		stored, err3 = decodeRefresh(rec, rot.Hash)
	}
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, s.fail(opName, ctx, err)
	}
	res := refresh.Decide(rot, stored, int(maxUsed))
	if code == 0 && res.Child != nil {
		return nil, authd.ErrConflict
	}
	if code != int64(res.Outcome) {
		return nil, s.fail(opName, ctx, fmt.Errorf("the script decided %d, refresh.Decide %v", code, res.Outcome))
	}
	return res, nil
}

// RefreshByHash implements refresh.Store: one HGET (and a GET of the
// old per-token key when that misses).
func (s *Store) RefreshByHash(ctx context.Context, sessionID string, hash []byte) (*refresh.Refresh, error) {
	const opName = "refresh by hash"
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", opName, err)
	}
	if len(hash) != 32 {
		return nil, authd.ErrNotFound
	}
	v, err := s.c.Do(ctx, s.c.B().Hget().Key(s.kTokens(sessionID)).Field(string(hash)).Build()).ToString()
	if isNil(err) {
		v, err = s.c.Do(ctx, s.c.B().Get().Key(s.kRefresh(hash)).Build()).ToString()
	}
	if isNil(err) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, s.fail(opName, ctx, err)
	}
	rt, err := decodeRefresh(v, hash)
	if err != nil {
		return nil, s.fail(opName, ctx, err)
	}
	if rt.SessionID != sessionID {
		return nil, authd.ErrNotFound
	}
	return rt, nil
}

// DeleteExpiredRefresh implements refresh.Store from the expiry index, in
// batches: sweepScript on each listed session, then its index entry moved
// to its earliest remaining token (or dropped). It counts the tokens it
// deleted, then sweeps tokens stored by earlier versions the old way.
func (s *Store) DeleteExpiredRefresh(ctx context.Context, before time.Time) (int, error) {
	const opName = "delete expired refresh"
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("redisstore: %s: %w", opName, err)
	}
	b := s.c.B()
	max := "(" + micros(before)
	total := 0
	for shard := range shards {
		idx := s.kRefSessN(shard)
		for {
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("redisstore: %s: %w", opName, err)
			}
			sids, err := s.c.Do(ctx, b.Zrangebyscore().Key(idx).Min("-inf").Max(max).Limit(0, sweepBatch).Build()).AsStrSlice()
			if err != nil && !isNil(err) {
				return total, s.fail(opName, ctx, err)
			}
			if len(sids) == 0 {
				break
			}
			ops := make([]op, len(sids))
			for i, sid := range sids {
				ops[i] = s.lua2(sweepScript, s.kTokens(sid), s.kGens(sid), micros(before))
			}
			next := make([]op, len(sids))
			for i, r := range s.do(ctx, ops...) {
				arr, err := r.AsIntSlice()
				if err == nil && len(arr) != 2 {
					err = errCorrupt
				}
				if err != nil {
					return total, s.fail(opName, ctx, err)
				}
				total += int(arr[0])
				if arr[1] < 0 {
					next[i] = s.plain(b.Zrem().Key(idx).Member(sids[i]).Build())
				} else {
					next[i] = s.plain(b.Zadd().Key(idx).Xx().ScoreMember().ScoreMember(float64(arr[1]), sids[i]).Build())
				}
			}
			for _, r := range s.do(ctx, next...) {
				if err := r.Error(); err != nil {
					return total, s.fail(opName, ctx, err)
				}
			}
			if len(sids) < sweepBatch {
				break
			}
		}
	}
	n, err := s.deleteExpiredLegacy(ctx, before)
	return total + n, err
}
