package session

// HashSecret exposes hashSecret to the external tests (session_test).
var HashSecret = hashSecret
