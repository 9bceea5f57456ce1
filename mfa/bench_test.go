package mfa_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"testing"
	"time"

	"github.com/authd/authd/mfa"
)

// BenchmarkVerifyTOTP: one code checked against its secret (open the
// sealed secret, three steps' codes, the store's atomic step update) on
// the memory store. The clock moves a step per iteration so every code
// is fresh (the test's own code generation is not timed).
func BenchmarkVerifyTOTP(b *testing.B) {
	s, c := newService(b)
	secret, _ := enrollB(b, s, c)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		c.Add(mfa.Period)
		cd := code(b, secret, c.Now())
		b.StartTimer()
		if err := s.VerifyTOTP(ctx, "u", cd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHOTPPrimitive is the raw primitive: one HMAC-SHA-1 and the
// dynamic truncation of RFC 4226 §5.3. VerifyTOTP computes three.
func BenchmarkHOTPPrimitive(b *testing.B) {
	key := make([]byte, 20)
	var msg [8]byte
	b.ReportAllocs()
	var sink uint32
	for i := range b.N {
		binary.BigEndian.PutUint64(msg[:], uint64(i))
		m := hmac.New(sha1.New, key)
		m.Write(msg[:])
		sum := m.Sum(nil)
		off := sum[19] & 0xf
		sink += binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff % 1_000_000
	}
	_ = sink
}

// BenchmarkRecoveryCode: one recovery code checked and spent.
func BenchmarkRecoveryCode(b *testing.B) {
	s, c := newService(b)
	ctx := context.Background()
	b.ReportAllocs()
	var codes []string
	for b.Loop() {
		if len(codes) == 0 {
			b.StopTimer()
			s.DisableTOTP(ctx, "u")
			_, codes = enrollB(b, s, c)
			b.StartTimer()
		}
		if err := s.UseRecoveryCode(ctx, "u", codes[0]); err != nil {
			b.Fatal(err)
		}
		codes = codes[1:]
	}
}

func enrollB(b *testing.B, s *mfa.Service, c *clock) (string, []string) {
	b.Helper()
	e, err := s.BeginTOTP(context.Background(), "u", "u@example.com")
	if err != nil {
		b.Fatal(err)
	}
	codes, err := s.ConfirmTOTP(context.Background(), "u", code(b, e.Secret, c.Now()))
	if err != nil {
		b.Fatal(err)
	}
	c.Add(time.Minute)
	return e.Secret, codes
}
