package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
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

// DKIM is on when all three settings are given, and its key is checked at
// start; half a configuration is refused at start, not discovered in a
// mailbox provider's spam folder.
func TestDKIMSettings(t *testing.T) {
	if _, err := parseConfig(newFlagSet(), []string{"--dkim-domain", "example.org"}, func(string) string { return "" }); err == nil {
		t.Error("a DKIM domain without selector and key was accepted")
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := newTestApp(t, map[string]string{"RALLY_DKIM_DOMAIN": "example.org", "RALLY_DKIM_SELECTOR": "rally1", "RALLY_DKIM_KEY_FILE": keyFile})
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air")
	if r := ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm("Ada", "ada@example.org")); r.status != 200 {
		t.Fatalf("sign: %d", r.status)
	}
	if m := ta.lastMailTo("ada@example.org"); !strings.Contains(m, "DKIM-Signature: v=1;") || !strings.Contains(m, "d=example.org; s=rally1;") {
		t.Errorf("a confirmation mail is not DKIM-signed:\n%s", m)
	}
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(newFlagSet(), nil, func(k string) string {
		return map[string]string{"RALLY_DATA": t.TempDir(), "RALLY_DKIM_DOMAIN": "example.org", "RALLY_DKIM_SELECTOR": "rally1", "RALLY_DKIM_KEY_FILE": keyFile}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := newApp(t.Context(), cfg); err == nil {
		a.close()
		t.Error("a DKIM key file that holds no key was accepted")
	}
}
