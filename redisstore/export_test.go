package redisstore

import (
	"context"
	"errors"
	"strings"

	"github.com/authd/authd/redisstore/internal/redisurl"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
	"github.com/redis/rueidis"
)

// ParseURL is the URL parsing of Open, for TestParseURL and FuzzParseURL.
var ParseURL = redisurl.Parse

// Client is the store's rueidis client, for tests that look at Redis
// itself (TTLs, command statistics, memory use).
func (s *Store) Client() rueidis.Client { return s.c }

// WriteLegacyRefresh stores rt the way versions before the per-session
// chain did: one string key per token, its expiry-index entry, and its
// used-zset entry when it is used.
func WriteLegacyRefresh(ctx context.Context, s *Store, rt *refresh.Refresh) error {
	b := s.c.B()
	ops := []op{
		s.plain(b.Set().Key(s.kRefresh(rt.Hash)).Value(encodeRefresh(rt)).Nx().PxMilliseconds(s.ttlMS(rt.ExpiresAt)).Build()),
		s.plain(b.Zadd().Key(s.kRefIdx(rt.Hash)).ScoreMember().ScoreMember(float64(rt.ExpiresAt.UnixMicro()), string(rt.Hash)).Build()),
	}
	if !rt.UsedAt.IsZero() {
		ops = append(ops, s.plain(b.Zadd().Key(s.kGens(rt.SessionID)).ScoreMember().ScoreMember(float64(rt.Generation), string(rt.Hash)).Build()))
	}
	for _, r := range s.do(ctx, ops...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

// LegacyRefreshExists reports whether the old per-token key of hash and
// its expiry-index entry exist.
func LegacyRefreshExists(ctx context.Context, s *Store, hash []byte) (key, indexed bool, err error) {
	b := s.c.B()
	res := s.do(ctx, s.plain(b.Exists().Key(s.kRefresh(hash)).Build()),
		s.plain(b.Zscore().Key(s.kRefIdx(hash)).Member(string(hash)).Build()))
	n, err := res[0].AsInt64()
	if err != nil {
		return false, false, err
	}
	_, err = res[1].ToString()
	if isNil(err) {
		return n == 1, false, nil
	}
	return n == 1, err == nil, err
}

// WriteLegacySession stores ss (whose ClientID must be empty) the way
// versions before Session.ClientID did: its record without the trailing
// client ID field, its ID key and its user-index entry.
func WriteLegacySession(ctx context.Context, s *Store, ss *session.Session, secretHash []byte) error {
	rec, ok := strings.CutSuffix(encodeSession(ss), "0:")
	if !ok || ss.ClientID != "" {
		return errors.New("WriteLegacySession: the session has a client ID")
	}
	b := s.c.B()
	ms := s.ttlMS(ss.ExpiresAt)
	for _, r := range s.do(ctx,
		s.plain(b.Set().Key(s.kSessID(ss.ID)).Value(string(secretHash)).Nx().PxMilliseconds(ms).Build()),
		s.plain(b.Set().Key(s.kLookup(secretHash)).Value(rec).Nx().PxMilliseconds(ms).Build()),
		s.plain(b.Zadd().Key(s.kUser(ss.UserID)).ScoreMember().ScoreMember(float64(ss.ExpiresAt.UnixMicro()), string(secretHash)).Build()),
	) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}
