package throttle

import (
	"context"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestDelayCurve(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 0}, {5, 0}, {6, time.Second}, {7, 2 * time.Second}, {8, 4 * time.Second},
		{15, 512 * time.Second}, {16, 15 * time.Minute}, {100, 15 * time.Minute}, {1 << 20, 15 * time.Minute},
	}
	for _, tt := range tests {
		if got := Delay(tt.n, 5, time.Second, 15*time.Minute); got != tt.want {
			t.Errorf("Delay(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(Config{Free: 3, BaseDelay: time.Second, MaxDelay: time.Minute, Forget: time.Hour, Now: c.now})
	for i := range 3 {
		if d, _ := l.Wait(ctx, "a"); d != 0 {
			t.Fatalf("attempt %d: wait %v, want 0", i, d)
		}
		l.Fail(ctx, "a")
	}
	if d, _ := l.Wait(ctx, "a"); d != 0 {
		t.Fatalf("after 3 free failures wait = %v, want 0", d)
	}
	l.Fail(ctx, "a") // 4th: 1s
	if d, _ := l.Wait(ctx, "a"); d != time.Second {
		t.Fatalf("after 4th failure wait = %v, want 1s", d)
	}
	if d, _ := l.Wait(ctx, "b"); d != 0 {
		t.Errorf("another key waits %v, want 0", d)
	}
	c.t = c.t.Add(time.Second)
	if d, _ := l.Wait(ctx, "a"); d != 0 {
		t.Errorf("after the delay wait = %v, want 0", d)
	}
	l.Fail(ctx, "a") // 5th: 2s
	if d, _ := l.Wait(ctx, "a"); d != 2*time.Second {
		t.Errorf("after 5th failure wait = %v, want 2s", d)
	}
	// Never a permanent lock-out: the wait is capped, and the count is
	// forgotten after a quiet hour.
	for range 50 {
		l.Fail(ctx, "a")
	}
	if d, _ := l.Wait(ctx, "a"); d != time.Minute {
		t.Errorf("after many failures wait = %v, want the 1m ceiling", d)
	}
	c.t = c.t.Add(time.Hour)
	if d, _ := l.Wait(ctx, "a"); d != 0 {
		t.Errorf("after Forget wait = %v, want 0", d)
	}
	l.Fail(ctx, "a")
	l.Reset(ctx, "a")
	if d, _ := l.Wait(ctx, "a"); d != 0 {
		t.Errorf("after Reset wait = %v, want 0", d)
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	ctx := context.Background()
	l := New(Config{MaxKeys: 100})
	for i := range 1000 {
		l.Fail(ctx, string(rune(i+0x4e00)))
	}
	if n := len(l.m); n > 100 {
		t.Errorf("limiter holds %d keys, want at most 100", n)
	}
}

// TestLimiterEvictsOldest: when a flood of keys fills the limiter, the
// account failing right now keeps its count.
func TestLimiterEvictsOldest(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(Config{MaxKeys: 100, Now: func() time.Time { return now }})
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		l.Fail(ctx, string(rune(i+0x4e00)))
		now = now.Add(time.Millisecond)
		l.Fail(ctx, "victim") // under attack throughout the flood
	}
	if d, _ := l.Wait(ctx, "victim"); d == 0 {
		t.Error("the account under attack lost its count to the flood of other keys")
	}
}
