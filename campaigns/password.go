package campaigns

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2Params are the argon2id costs of a password hash.
type argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// passwordParams are the costs of new hashes: OWASP's first argon2id
// configuration (19 MiB, two passes, one lane). Tests lower them. Hashes made
// with other costs still verify, since each hash carries its own.
var passwordParams = argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on the costs read back from a stored hash, so a corrupt row cannot
// make one verification take gigabytes or minutes.
const (
	maxArgon2Memory = 1 << 20 // KiB: 1 GiB
	maxArgon2Time   = 64
)

// passwordSlots bounds how many hashes are computed at once: each takes
// passwordParams.Memory of RAM, and a burst of logins must not exhaust it.
var passwordSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

var phcBase64 = base64.RawStdEncoding

// errBadPasswordHash is returned for a stored hash that cannot be parsed.
var errBadPasswordHash = errors.New("malformed argon2id hash")

// hashPassword returns the argon2id hash of password in PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$salt$hash.
func hashPassword(password string) (string, error) {
	return hashPasswordWith(passwordParams, password)
}

func hashPasswordWith(p argon2Params, password string) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2Key(password, salt, p)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, phcBase64.EncodeToString(salt), phcBase64.EncodeToString(key)), nil
}

func argon2Key(password string, salt []byte, p argon2Params) []byte {
	passwordSlots <- struct{}{}
	defer func() { <-passwordSlots }()
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// checkPassword reports whether password matches the PHC-format hash, using
// the costs written in the hash. The comparison takes constant time.
func checkPassword(hash, password string) (bool, error) {
	p, salt, want, err := parsePasswordHash(hash)
	if err != nil {
		return false, err
	}
	got := argon2Key(password, salt, p)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// passwordNeedsRehash reports whether hash was made with other costs than
// today's, so a successful login can upgrade it.
func passwordNeedsRehash(hash string) bool {
	p, _, _, err := parsePasswordHash(hash)
	if err != nil {
		return true
	}
	return p.Memory != passwordParams.Memory || p.Time != passwordParams.Time ||
		p.Threads != passwordParams.Threads || p.KeyLen != passwordParams.KeyLen
}

func parsePasswordHash(hash string) (p argon2Params, salt, key []byte, err error) {
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadPasswordHash
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: version %q", errBadPasswordHash, parts[2])
	}
	var seen int
	for _, kv := range strings.Split(parts[3], ",") {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return p, nil, nil, errBadPasswordHash
		}
		n, perr := strconv.ParseUint(value, 10, 32)
		if perr != nil || n == 0 {
			return p, nil, nil, errBadPasswordHash
		}
		switch name {
		case "m":
			p.Memory, seen = uint32(n), seen|1
		case "t":
			p.Time, seen = uint32(n), seen|2
		case "p":
			if n > 255 {
				return p, nil, nil, errBadPasswordHash
			}
			p.Threads, seen = uint8(n), seen|4
		default:
			return p, nil, nil, errBadPasswordHash
		}
	}
	if seen != 7 || p.Memory > maxArgon2Memory || p.Time > maxArgon2Time || p.Memory < 8*uint32(p.Threads) {
		return p, nil, nil, errBadPasswordHash
	}
	if salt, err = phcBase64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errBadPasswordHash
	}
	if key, err = phcBase64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, errBadPasswordHash
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
