package password_test

import (
	"errors"
	"fmt"

	"github.com/authd/authd/password"
)

func ExamplePolicy_Check() {
	var policy password.Policy // defaults: at least 12 code points, at most 1024 bytes
	for _, pw := range []string{
		"short",
		"Password1234",
		"pass\x00word-with-nul",
		"correct horse battery staple",
	} {
		err := policy.Check(pw)
		var pe *password.PolicyError
		if errors.As(err, &pe) {
			fmt.Printf("%q: %s (%s)\n", pw, pe.Msg, pe.Reason)
			continue
		}
		fmt.Printf("%q: ok\n", pw)
	}
	// Output:
	// "short": password must be at least 12 characters (too_short)
	// "Password1234": password is in a list of commonly used passwords (common)
	// "pass\x00word-with-nul": password must be valid UTF-8 text without NUL characters (invalid)
	// "correct horse battery staple": ok
}
