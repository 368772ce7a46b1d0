package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Without RALLY_SECRET, Rally makes one on its first start, keeps it in the
// data folder readable by its owner only, and uses the same one after: links
// in mails already sent stay good across restarts. RALLY_SECRET, when set,
// wins.
func TestSecretIsGeneratedOnceIntoTheDataFolder(t *testing.T) {
	dir := t.TempDir()
	cfg := config{Data: dir}
	first, err := loadSecret(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", st.Mode().Perm())
	}
	if len(first) < 32 {
		t.Errorf("secret of %d bytes", len(first))
	}
	again, err := loadSecret(cfg)
	if err != nil || string(again) != string(first) {
		t.Errorf("second start: %q, %v; want the same secret", again, err)
	}
	cfg.Secret = "set by the operator, long enough"
	if s, err := loadSecret(cfg); err != nil || string(s) != cfg.Secret {
		t.Errorf("RALLY_SECRET set: %q, %v", s, err)
	}
	cfg.Secret = "short"
	if _, err := loadSecret(cfg); err == nil {
		t.Error("a five-character RALLY_SECRET was accepted")
	}
}
