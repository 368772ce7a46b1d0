package notify

import (
	"crypto/sha256"
	"encoding/hex"
)

// HashToken returns the hex SHA-256 of a token, as tables keep it: the link
// in a mail or the cookie holds the token, the database only its hash, so a
// copy of the database opens no session and confirms nothing. Every token
// table (sessions, confirmation and login links, cancel links, blasts')
// stores this hash.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	var b [2 * sha256.Size]byte
	hex.Encode(b[:], sum[:])
	return string(b[:])
}
