// Package password hashes and verifies passwords and implements the
// password policy of the authentication server.
//
// The package follows NIST SP 800-63B-4 ("Digital Identity Guidelines:
// Authentication and Authenticator Management", §3.1.1.2 Password
// Verifiers) and OWASP ASVS 5.0 chapter V6.2 (Password Security):
//
//   - Passwords are hashed with Argon2id (RFC 9106) using the OWASP
//     recommended parameters by default (see [DefaultParams]) and stored as
//     PHC strings. Legacy bcrypt hashes of imported users are verified and
//     flagged for rehashing.
//   - The number of concurrent hash computations is bounded (see [Hasher]),
//     so that a flood of login attempts cannot starve the rest of the server.
//   - Unknown accounts cost the same as known ones (see [Hasher.DummyVerify]).
//   - The policy (see [Policy]) checks length only, with no composition
//     rules, counts Unicode code points after NFC normalisation, permits
//     long passwords (at least 64 characters), and refuses passwords found
//     in a list of commonly used passwords (see [IsCommon]).
//
// Hashing operates on the exact bytes it is given: [Hasher.Hash] and
// [Hasher.Verify] do not normalise. Callers that want normalisation
// (NIST SP 800-63B-4 recommends NFC or NFKC for Unicode passwords) must
// apply it consistently before hashing and before verifying.
package password
