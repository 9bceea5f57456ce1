package redisstore

import (
	"context"
	"fmt"
	"time"
)

// Tokens stored by versions before the per-session chain: one string key
// each (P r:<hex(hash)>), listed in P rx:<0..15> by ExpiresAt, used ones
// also in the session's used zset (which the chain still uses).

// importLegacy moves a token stored by an earlier version (P r:<hex>)
// into its session's hash, then deletes the old key: an importer that
// read the old key always writes the same record, and HSETNX keeps the
// first, so importers racing each other (or a rotation of the imported
// token) agree. Nothing there is no error.
func (s *Store) importLegacy(ctx context.Context, sessionID string, hash []byte) error {
	const opName = "import refresh"
	v, err := s.c.Do(ctx, s.c.B().Get().Key(s.kRefresh(hash)).Build()).ToString()
	if isNil(err) {
		return nil
	}
	if err != nil {
		return s.fail(opName, ctx, err)
	}
	rt, err := decodeRefresh(v, hash)
	if err != nil {
		return s.fail(opName, ctx, err)
	}
	if rt.SessionID != sessionID {
		return nil
	}
	if _, err := s.create(ctx, opName, rt); err != nil {
		return err
	}
	for _, r := range s.do(ctx,
		s.plain(s.c.B().Del().Key(s.kRefresh(hash)).Build()),
		s.plain(s.c.B().Zrem().Key(s.kRefIdx(hash)).Member(string(hash)).Build())) {
		if err := r.Error(); err != nil {
			return s.fail(opName, ctx, err)
		}
	}
	return nil
}

// deleteExpiredLegacy sweeps tokens stored one key each by earlier
// versions, from their expiry index: GETDEL of the records, then their
// entries in the used zsets and the index. It counts the index entries it
// removed (records already gone by TTL included).
func (s *Store) deleteExpiredLegacy(ctx context.Context, before time.Time) (int, error) {
	const opName = "delete expired refresh"
	b := s.c.B()
	max := "(" + micros(before)
	total := 0
	for shard := range shards {
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
