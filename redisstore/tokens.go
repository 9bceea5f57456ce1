package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/token"
	"github.com/redis/rueidis"
)

// useScript marks a refresh record used at ARGV[1] if it is unused (its
// first field, UsedAt, is empty) and returns {record, 1}; a used record is
// returned unchanged with 0; no record: nil.
var useScript = newScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
if string.byte(v, 1) == 124 then
  v = ARGV[1] .. v
  redis.call('SET', KEYS[1], v, 'KEEPTTL')
  return {v, 1}
end
return {v, 0}
`)

// CreateRefresh implements token.RefreshStore: SET NX of the record and
// the expiry-index entry in one pipelined round trip.
func (s *Store) CreateRefresh(ctx context.Context, rt *token.Refresh) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: create refresh: %w", err)
	}
	if len(rt.Hash) != 32 {
		return authd.Invalid("hash", "invalid", "refresh token hash must be 32 bytes")
	}
	b := s.c.B()
	ms := s.ttlMS(rt.ExpiresAt)
	kIdx := s.kRefIdx(rt.Hash)
	res := s.do(ctx,
		s.plain(b.Set().Key(s.kRefresh(rt.Hash)).Value(encodeRefresh(rt)).Nx().PxMilliseconds(ms).Build()),
		s.lua(zaddScript, kIdx, "nx", micros(s.now().Add(-s.margin)), strconv.FormatInt(ms, 10), micros(rt.ExpiresAt), string(rt.Hash)),
	)
	setErr := res[0].Error()
	n, idxErr := res[1].AsInt64()
	if setErr == nil && idxErr == nil {
		if !rt.UsedAt.IsZero() {
			return s.markUsed(ctx, "create refresh", rt)
		}
		return nil
	}
	// Undo exactly what this call added, even if ctx is done by now.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if setErr == nil {
		s.c.Do(uctx, b.Del().Key(s.kRefresh(rt.Hash)).Build())
	}
	if idxErr == nil && n > 0 {
		s.c.Do(uctx, b.Zrem().Key(kIdx).Member(string(rt.Hash)).Build())
	}
	switch {
	case setErr != nil && !isNil(setErr):
		return s.fail("create refresh", ctx, setErr)
	case idxErr != nil:
		return s.fail("create refresh", ctx, idxErr)
	}
	return authd.ErrConflict
}

// markUsed adds rt to its session's used-generation zset.
func (s *Store) markUsed(ctx context.Context, opName string, rt *token.Refresh) error {
	err := s.do1(ctx, s.lua(zaddScript, s.kGens(rt.SessionID), "set", "", strconv.FormatInt(s.ttlMS(rt.ExpiresAt), 10),
		strconv.Itoa(rt.Generation), string(rt.Hash))).Error()
	if err != nil {
		return s.fail(opName, ctx, err)
	}
	return nil
}

// UseRefresh implements token.RefreshStore: a Lua compare-and-set on the
// record decides the first use; then the token is added to its session's
// used-generation zset (idempotently, on every use, so an interrupted
// first use is repaired by the next).
func (s *Store) UseRefresh(ctx context.Context, hash []byte, at time.Time) (*token.Refresh, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("redisstore: use refresh: %w", err)
	}
	if len(hash) != 32 {
		return nil, false, authd.ErrNotFound
	}
	arr, err := s.do1(ctx, s.lua(useScript, s.kRefresh(hash), micros(at))).ToArray()
	if isNil(err) {
		return nil, false, authd.ErrNotFound
	}
	if err != nil {
		return nil, false, s.fail("use refresh", ctx, err)
	}
	rt, first, err := decodeUse(arr, hash)
	if err != nil {
		return nil, false, s.fail("use refresh", ctx, err)
	}
	if err := s.markUsed(ctx, "use refresh", rt); err != nil && !first {
		return nil, false, err
	}
	// A first use is decided by the Lua script alone: failing it now, after
	// the token was marked used, would make the client's retry look like
	// theft. The used-generation set may lag (callers tolerate that) and
	// is repaired by the next use of this token.
	return rt, first, nil
}

func decodeUse(arr []rueidis.RedisMessage, hash []byte) (*token.Refresh, bool, error) {
	if len(arr) != 2 {
		return nil, false, errCorrupt
	}
	v, err := arr[0].ToString()
	if err != nil {
		return nil, false, err
	}
	f, err := arr[1].AsInt64()
	if err != nil {
		return nil, false, err
	}
	rt, err := decodeRefresh(v, hash)
	return rt, f == 1, err
}

// RefreshByHash implements token.RefreshStore: one GET.
func (s *Store) RefreshByHash(ctx context.Context, hash []byte) (*token.Refresh, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: refresh by hash: %w", err)
	}
	if len(hash) != 32 {
		return nil, authd.ErrNotFound
	}
	v, err := s.c.Do(ctx, s.c.B().Get().Key(s.kRefresh(hash)).Build()).ToString()
	if isNil(err) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, s.fail("refresh by hash", ctx, err)
	}
	rt, err := decodeRefresh(v, hash)
	if err != nil {
		return nil, s.fail("refresh by hash", ctx, err)
	}
	return rt, nil
}

// MaxUsedGeneration implements token.RefreshStore: the top score of the
// session's used-generation zset. It may lag a first use by one round
// trip, and may still count a used token whose record has expired by TTL
// but has not been swept (every token of a session expires with it).
func (s *Store) MaxUsedGeneration(ctx context.Context, sessionID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("redisstore: max used generation: %w", err)
	}
	zs, err := s.c.Do(ctx, s.c.B().Zrevrange().Key(s.kGens(sessionID)).Start(0).Stop(0).Withscores().Build()).AsZScores()
	if err != nil && !isNil(err) {
		return 0, s.fail("max used generation", ctx, err)
	}
	if len(zs) == 0 {
		return -1, nil
	}
	return int(zs[0].Score), nil
}

// DeleteExpiredRefresh implements token.RefreshStore from the expiry
// index, in batches: GETDEL of the records, then their entries in the
// used-generation zsets and the index. It counts the index entries it
// removed (records already gone by TTL included).
func (s *Store) DeleteExpiredRefresh(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("redisstore: delete expired refresh: %w", err)
	}
	const opName = "delete expired refresh"
	b := s.c.B()
	max := "(" + micros(before)
	total := 0
	for shard := 0; shard < shards; shard++ {
		idx := s.kRefIdxN(shard)
		for {
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("redisstore: %s: %w", opName, err)
			}
			members, err := s.c.Do(ctx, b.Zrangebyscore().Key(idx).Min("-inf").Max(max).Limit(0, sweepBatch).Build()).AsStrSlice()
			if err != nil && !isNil(err) {
				return total, s.fail(opName, ctx, err)
			}
			if len(members) == 0 {
				break
			}
			ops := make([]op, len(members))
			for i, m := range members {
				ops[i] = s.plain(b.Getdel().Key(s.kRefresh([]byte(m))).Build())
			}
			var next []op
			for i, r := range s.do(ctx, ops...) {
				v, err := r.ToString()
				if isNil(err) {
					continue
				}
				if err != nil {
					return total, s.fail(opName, ctx, err)
				}
				if rt, err := decodeRefresh(v, []byte(members[i])); err == nil && !rt.UsedAt.IsZero() {
					next = append(next, s.plain(b.Zrem().Key(s.kGens(rt.SessionID)).Member(members[i]).Build()))
				}
			}
			next = append(next, s.plain(b.Zrem().Key(idx).Member(members...).Build()))
			res := s.do(ctx, next...)
			for _, r := range res {
				if err := r.Error(); err != nil {
					return total, s.fail(opName, ctx, err)
				}
			}
			n, _ := res[len(res)-1].AsInt64()
			total += int(n)
			if len(members) < sweepBatch {
				break
			}
		}
	}
	return total, nil
}

// PruneRefresh implements token.RefreshStore: the session's used tokens
// are listed by generation in its used-generation zset; those below are
// deleted with their expiry-index entries, then dropped from the zset.
func (s *Store) PruneRefresh(ctx context.Context, sessionID string, below int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("redisstore: prune refresh: %w", err)
	}
	const opName = "prune refresh"
	b := s.c.B()
	max := "(" + strconv.Itoa(below)
	members, err := s.c.Do(ctx, b.Zrangebyscore().Key(s.kGens(sessionID)).Min("-inf").Max(max).Build()).AsStrSlice()
	if err != nil && !isNil(err) {
		return 0, s.fail(opName, ctx, err)
	}
	if len(members) == 0 {
		return 0, nil
	}
	ops := make([]op, 0, 2*len(members)+1)
	for _, m := range members {
		ops = append(ops, s.plain(b.Del().Key(s.kRefresh([]byte(m))).Build()),
			s.plain(b.Zrem().Key(s.kRefIdx([]byte(m))).Member(m).Build()))
	}
	ops = append(ops, s.plain(b.Zremrangebyscore().Key(s.kGens(sessionID)).Min("-inf").Max(max).Build()))
	for _, r := range s.do(ctx, ops...) {
		if err := r.Error(); err != nil && !isNil(err) {
			return 0, s.fail(opName, ctx, err)
		}
	}
	return len(members), nil
}
