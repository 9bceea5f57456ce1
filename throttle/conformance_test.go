package throttle_test

import (
	"testing"

	"github.com/authd/authd/throttle"
	"github.com/authd/authd/throttle/throttletest"
)

func TestConformance(t *testing.T) {
	throttletest.Run(t, false, func(t *testing.T, cfg throttle.Config) (a, b throttletest.Throttle) {
		l := throttle.New(cfg)
		return l, l
	})
}
