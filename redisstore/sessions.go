package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/session"
	"github.com/redis/rueidis"
)

// touchScript moves a session record's LastSeenAt (ARGV[1]) and
// IdleExpiresAt (ARGV[2]) forward, never back, keeping the TTL. 0: no
// record; 1: unchanged (older touch); 2: updated.
var touchScript = newScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local a = string.find(v, '|', 1, true)
local b = string.find(v, '|', a + 1, true)
local cur = tonumber(string.sub(v, 1, a - 1))
if cur == nil or cur < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2] .. string.sub(v, b), 'KEEPTTL')
  return 2
end
return 1
`)

// CreateSession implements session.Store in one pipelined round trip: the
// record and the ID key are written with SET NX; on a conflict whatever
// this call added is removed again.
func (s *Store) CreateSession(ctx context.Context, ss *session.Session, secretHash []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: create session: %w", err)
	}
	if len(secretHash) != 32 {
		return authd.Invalid("secret_hash", "invalid", "secret hash must be 32 bytes")
	}
	hash := string(secretHash)
	ms := s.ttlMS(ss.ExpiresAt)
	exp := micros(ss.ExpiresAt)
	trim := micros(s.now().Add(-s.margin))
	b := s.c.B()
	kID, kLookup, kUser, kIdx := s.kSessID(ss.ID), s.kLookup(secretHash), s.kUser(ss.UserID), s.kSessIdx(ss.ID)
	res := s.do(ctx,
		s.plain(b.Set().Key(kID).Value(hash).Nx().PxMilliseconds(ms).Build()),
		s.plain(b.Set().Key(kLookup).Value(encodeSession(ss)).Nx().PxMilliseconds(ms).Build()),
		s.lua(zaddScript, kUser, "nx", trim, strconv.FormatInt(ms, 10), exp, hash),
		s.lua(zaddScript, kIdx, "nx", trim, strconv.FormatInt(ms, 10), exp, ss.ID),
	)
	var firstErr error
	set := func(r rueidis.RedisResult) bool {
		err := r.Error()
		if err != nil && !isNil(err) && firstErr == nil {
			firstErr = err
		}
		return err == nil
	}
	added := func(r rueidis.RedisResult) bool {
		n, err := r.AsInt64()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return err == nil && n > 0
	}
	idOK, hashOK := set(res[0]), set(res[1])
	userAdded, idxAdded := added(res[2]), added(res[3])
	if firstErr == nil && idOK && hashOK {
		return nil
	}
	// Undo exactly what this call added, even if ctx is done by now.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var undo []op
	if idOK {
		undo = append(undo, s.plain(b.Del().Key(kID).Build()))
	}
	if hashOK {
		undo = append(undo, s.plain(b.Del().Key(kLookup).Build()))
	}
	if userAdded {
		undo = append(undo, s.plain(b.Zrem().Key(kUser).Member(hash).Build()))
	}
	if idxAdded {
		undo = append(undo, s.plain(b.Zrem().Key(kIdx).Member(ss.ID).Build()))
	}
	if len(undo) > 0 {
		s.do(uctx, undo...)
	}
	if firstErr != nil {
		return s.fail("create session", ctx, firstErr)
	}
	return authd.ErrConflict
}

// SessionByHash implements session.Store: one GET.
func (s *Store) SessionByHash(ctx context.Context, hash []byte, now time.Time) (*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: session by hash: %w", err)
	}
	if len(hash) != 32 {
		return nil, authd.ErrNotFound
	}
	return s.liveRecord(ctx, "session by hash", s.kLookup(hash), "", now)
}

func (s *Store) liveRecord(ctx context.Context, opName, key, wantID string, now time.Time) (*session.Session, error) {
	v, err := s.c.Do(ctx, s.c.B().Get().Key(key).Build()).ToString()
	if isNil(err) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, s.fail(opName, ctx, err)
	}
	ss, err := decodeSession(v)
	if err != nil {
		return nil, s.fail(opName, ctx, err)
	}
	if (wantID != "" && ss.ID != wantID) || !ss.Live(now) {
		return nil, authd.ErrNotFound
	}
	return ss, nil
}

// hashOf follows a session ID to its secret hash (the record's key).
func (s *Store) hashOf(ctx context.Context, opName, id string) ([]byte, error) {
	v, err := s.c.Do(ctx, s.c.B().Get().Key(s.kSessID(id)).Build()).AsBytes()
	if isNil(err) || (err == nil && len(v) != 32) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, s.fail(opName, ctx, err)
	}
	return v, nil
}

// SessionByID implements session.Store: two GETs (ID key, record).
func (s *Store) SessionByID(ctx context.Context, id string, now time.Time) (*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: session by id: %w", err)
	}
	h, err := s.hashOf(ctx, "session by id", id)
	if err != nil {
		return nil, err
	}
	return s.liveRecord(ctx, "session by id", s.kLookup(h), id, now)
}

// TouchSession implements session.Store: the ID key, then a Lua
// compare-and-set on the record (which never recreates a revoked one).
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: touch session: %w", err)
	}
	h, err := s.hashOf(ctx, "touch session", id)
	if err != nil {
		return err
	}
	n, err := s.do1(ctx, s.lua(touchScript, s.kLookup(h), micros(lastSeen), micros(idleExpires))).AsInt64()
	if err != nil {
		return s.fail("touch session", ctx, err)
	}
	if n == 0 {
		return authd.ErrNotFound
	}
	return nil
}

// ListSessions implements session.Store: the user's index, then the
// records in one pipelined round trip.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]*session.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: list sessions: %w", err)
	}
	hashes, err := s.c.Do(ctx, s.c.B().Zrangebyscore().Key(s.kUser(userID)).Min("("+micros(now)).Max("+inf").Build()).AsStrSlice()
	if err != nil && !isNil(err) {
		return nil, s.fail("list sessions", ctx, err)
	}
	out := []*session.Session{}
	if len(hashes) == 0 {
		return out, nil
	}
	ops := make([]op, len(hashes))
	for i, h := range hashes {
		ops[i] = s.plain(s.c.B().Get().Key(s.kLookup([]byte(h))).Build())
	}
	for _, r := range s.do(ctx, ops...) {
		v, err := r.ToString()
		if isNil(err) {
			continue // revoked or expired since
		}
		if err != nil {
			return nil, s.fail("list sessions", ctx, err)
		}
		ss, err := decodeSession(v)
		if err != nil {
			return nil, s.fail("list sessions", ctx, err)
		}
		if ss.UserID == userID && ss.Live(now) {
			out = append(out, ss)
		}
	}
	slices.SortFunc(out, func(a, b *session.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeSession implements session.Store. The revocation is recorded in
// the revocation list first (so access tokens can never outlive a
// revocation that went half-way), then the GETDEL of the record decides
// it: exactly one concurrent caller gets the record, the others
// ErrNotFound. The ID key and the user index are tidied last.
func (s *Store) RevokeSession(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: revoke session: %w", err)
	}
	const opName = "revoke session"
	h, err := s.hashOf(ctx, opName, id)
	if err != nil {
		return err
	}
	v, err := s.c.Do(ctx, s.c.B().Get().Key(s.kLookup(h)).Build()).ToString()
	if isNil(err) {
		return authd.ErrNotFound
	}
	if err != nil {
		return s.fail(opName, ctx, err)
	}
	ss, err := decodeSession(v)
	if err != nil {
		return s.fail(opName, ctx, err)
	}
	if err := s.recordRevocations(ctx, opName, at, []*session.Session{ss}); err != nil {
		return err
	}
	_, err = s.c.Do(ctx, s.c.B().Getdel().Key(s.kLookup(h)).Build()).ToString()
	if isNil(err) {
		return authd.ErrNotFound // a concurrent revoke won (and recorded it too)
	}
	if err != nil {
		return s.fail(opName, ctx, err)
	}
	s.tidyRevoked(ctx, ss.UserID, []*session.Session{ss}, [][]byte{h})
	return nil
}

// recordRevocations adds sessions to the revocation list (NX: a repeat
// keeps the first time) and trims entries past the retention.
func (s *Store) recordRevocations(ctx context.Context, opName string, at time.Time, revoked []*session.Session) error {
	if len(revoked) == 0 {
		return nil
	}
	// The list lives as long as its newest entry is retained: with no
	// revocation for that long, it expires by itself.
	args := []string{"nx", micros(s.now().Add(-s.retain)), strconv.FormatInt(s.retain.Milliseconds(), 10)}
	for _, ss := range revoked {
		args = append(args, micros(at), ss.ID+"|"+micros(ss.ExpiresAt))
	}
	if err := s.do1(ctx, s.lua(zaddScript, s.kRevoked(), args...)).Error(); err != nil {
		return s.fail(opName, ctx, err)
	}
	return nil
}

// tidyRevoked drops the ID keys and user-index entries of revoked
// sessions. It is best effort: the revocation itself is already complete,
// and what a failure leaves behind points at records that no longer exist.
func (s *Store) tidyRevoked(ctx context.Context, userID string, revoked []*session.Session, dropHashes [][]byte) {
	b := s.c.B()
	var ops []op
	for _, ss := range revoked {
		ops = append(ops, s.plain(b.Del().Key(s.kSessID(ss.ID)).Build()))
	}
	if len(dropHashes) > 0 {
		members := make([]string, len(dropHashes))
		for i, h := range dropHashes {
			members[i] = string(h)
		}
		ops = append(ops, s.plain(b.Zrem().Key(s.kUser(userID)).Member(members...).Build()))
	}
	if len(ops) > 0 {
		s.do(ctx, ops...)
	}
}

// RevokeUserSessions implements session.Store in five round trips
// whatever the number of sessions: the user's index (one key), a GET of
// every record, the revocation list, the GETDEL of every record, and the
// tidying. It never scans the keyspace.
func (s *Store) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: revoke user sessions: %w", err)
	}
	const opName = "revoke user sessions"
	b := s.c.B()
	members, err := s.do1(ctx, s.plain(b.Zrange().Key(s.kUser(userID)).Min("0").Max("-1").Build())).AsStrSlice()
	if err != nil && !isNil(err) {
		return nil, s.fail(opName, ctx, err)
	}
	var hashes [][]byte
	var gets []op
	for _, m := range members {
		hashes = append(hashes, []byte(m))
		gets = append(gets, s.plain(b.Get().Key(s.kLookup([]byte(m))).Build()))
	}
	ids := []string{}
	if len(gets) == 0 {
		return ids, nil
	}
	// Read the live ones and record them as revoked before deleting.
	var live []*session.Session
	var liveHashes [][]byte
	var stale [][]byte // index entries whose record is gone
	for i, r := range s.do(ctx, gets...) {
		v, err := r.ToString()
		if isNil(err) {
			stale = append(stale, hashes[i])
			continue
		}
		if err != nil {
			return nil, s.fail(opName, ctx, err)
		}
		ss, err := decodeSession(v)
		if err != nil {
			return nil, s.fail(opName, ctx, err)
		}
		if except != "" && ss.ID == except {
			continue
		}
		live = append(live, ss)
		liveHashes = append(liveHashes, hashes[i])
	}
	if err := s.recordRevocations(ctx, opName, at, live); err != nil {
		return nil, err
	}
	dels := make([]op, len(live))
	for i := range live {
		dels[i] = s.plain(b.Getdel().Key(s.kLookup(liveHashes[i])).Build())
	}
	var revoked []*session.Session
	var revokedHashes [][]byte
	var firstErr error
	for i, r := range s.do(ctx, dels...) {
		_, err := r.ToString()
		switch {
		case isNil(err): // revoked concurrently, or expired: not ours
			stale = append(stale, liveHashes[i])
		case err != nil:
			if firstErr == nil {
				firstErr = err // left live, and left in the index
			}
		default:
			revoked = append(revoked, live[i])
			revokedHashes = append(revokedHashes, liveHashes[i])
			ids = append(ids, live[i].ID)
		}
	}
	s.tidyRevoked(ctx, userID, revoked, append(revokedHashes, stale...))
	if firstErr != nil {
		return nil, s.fail(opName, ctx, firstErr)
	}
	return ids, nil
}

// RevokedSessions implements session.Store from the revocation list,
// leaving out sessions whose keys have expired.
func (s *Store) RevokedSessions(ctx context.Context, since time.Time) ([]session.Revocation, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: revoked sessions: %w", err)
	}
	zs, err := s.c.Do(ctx, s.c.B().Zrangebyscore().Key(s.kRevoked()).Min(micros(since)).Max("+inf").Withscores().Build()).AsZScores()
	if err != nil && !isNil(err) {
		return nil, s.fail("revoked sessions", ctx, err)
	}
	gone := s.now().Add(-s.margin)
	out := []session.Revocation{}
	for _, z := range zs {
		id, exp, ok := splitRevocation(z.Member)
		if !ok || exp.Before(gone) {
			continue
		}
		out = append(out, session.Revocation{ID: id, RevokedAt: time.UnixMicro(int64(z.Score)).UTC(), ExpiresAt: exp})
	}
	slices.SortFunc(out, func(a, b session.Revocation) int {
		if c := a.RevokedAt.Compare(b.RevokedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func splitRevocation(m string) (string, time.Time, bool) {
	i := strings.LastIndexByte(m, '|')
	if i < 0 {
		return "", time.Time{}, false
	}
	us, err := strconv.ParseInt(m[i+1:], 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return m[:i], time.UnixMicro(us).UTC(), true
}

const sweepBatch = 500

// DeleteExpiredSessions implements session.Store from the expiry index:
// it deletes the keys of every indexed session whose ExpiresAt is before
// before (revoked ones have only their revocation-list entry left) and
// counts the index entries it removed. Keys already gone by TTL are
// counted too: the session was past before and is now removed.
func (s *Store) DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("redisstore: delete expired sessions: %w", err)
	}
	const opName = "delete expired sessions"
	b := s.c.B()
	max := "(" + micros(before)
	total := 0
	for shard := 0; shard < shards; shard++ {
		for {
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("redisstore: %s: %w", opName, err)
			}
			idx := s.kSessIdxN(shard)
			zs, err := s.c.Do(ctx, b.Zrangebyscore().Key(idx).Min("-inf").Max(max).Withscores().Limit(0, sweepBatch).Build()).AsZScores()
			if err != nil && !isNil(err) {
				return total, s.fail(opName, ctx, err)
			}
			if len(zs) == 0 {
				break
			}
			// The records' hashes, through the ID keys.
			ops := make([]op, len(zs))
			for i, z := range zs {
				ops[i] = s.plain(b.Get().Key(s.kSessID(z.Member)).Build())
			}
			ptrs := s.do(ctx, ops...)
			type found struct {
				hash []byte
				at   int // index of its GETDEL in ops
			}
			var live []found
			ops = ops[:0]
			for i, z := range zs {
				h, err := ptrs[i].AsBytes()
				if err != nil && !isNil(err) {
					return total, s.fail(opName, ctx, err)
				}
				if err == nil && len(h) == 32 {
					live = append(live, found{h, len(ops)})
					ops = append(ops, s.plain(b.Getdel().Key(s.kLookup(h)).Build()))
					ops = append(ops, s.plain(b.Del().Key(s.kSessID(z.Member)).Build()))
				}
			}
			revs := make([]string, len(zs))
			for i, z := range zs {
				revs[i] = z.Member + "|" + strconv.FormatInt(int64(z.Score), 10)
			}
			ops = append(ops, s.plain(b.Zrem().Key(s.kRevoked()).Member(revs...).Build()))
			res := s.do(ctx, ops...)
			for _, r := range res {
				if err := r.Error(); err != nil && !isNil(err) {
					return total, s.fail(opName, ctx, err)
				}
			}
			// Drop the user-index entries of the records just deleted,
			// and the index entries themselves (their count is the result).
			ops = ops[:0]
			for _, f := range live {
				if v, err := res[f.at].ToString(); err == nil {
					if ss, err := decodeSession(v); err == nil {
						ops = append(ops, s.plain(b.Zrem().Key(s.kUser(ss.UserID)).Member(string(f.hash)).Build()))
					}
				}
			}
			members := make([]string, len(zs))
			for i, z := range zs {
				members[i] = z.Member
			}
			ops = append(ops, s.plain(b.Zrem().Key(idx).Member(members...).Build()))
			res = s.do(ctx, ops...)
			n, err := res[len(res)-1].AsInt64()
			if err != nil {
				return total, s.fail(opName, ctx, err)
			}
			total += int(n)
			if len(zs) < sweepBatch {
				break
			}
		}
	}
	return total, nil
}
