package notify

import "testing"

// The hash is the one every token table already holds: hex SHA-256, lower
// case. Changing it would log everyone out and break every link in a mail.
func TestHashToken(t *testing.T) {
	if got, want := HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("HashToken(abc) = %s, want %s", got, want)
	}
}
