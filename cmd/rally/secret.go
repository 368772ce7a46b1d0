package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// secretFile is where a generated RALLY_SECRET is kept, in the data folder.
const secretFile = "secret"

// loadSecret returns the key for signed links: RALLY_SECRET if set, else
// the one kept in the data folder, generated (32 random bytes, mode 0600)
// the first time. Links in mails already sent stay good across restarts,
// and a copy of the data folder carries them.
func loadSecret(cfg config) ([]byte, error) {
	if cfg.Secret != "" {
		if len(cfg.Secret) < 16 {
			return nil, errors.New("RALLY_SECRET: use at least 16 characters (32 random bytes, hex, is good)")
		}
		return []byte(cfg.Secret), nil
	}
	path := filepath.Join(cfg.Data, secretFile)
	if b, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 16 {
			return nil, fmt.Errorf("secret in %s is too short: delete it to make a new one (links in mails already sent stop working)", path)
		}
		return []byte(s), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("make secret: %w", err)
	}
	s := hex.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process wrote it first: use theirs.
		return loadSecret(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	return []byte(s), nil
}
