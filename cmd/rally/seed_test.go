package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `rally seed --signatures N` on a new folder adds the demo cause and N
// confirmed signatures, which its page's JSON counts; run again, it adds
// to the same cause; an unknown --cause is refused, with nothing added.
func TestSeedAddsConfirmedSignatures(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"RALLY_DATA": dir, "RALLY_LOG_LEVEL": "error"}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"seed", "--signatures", "2500", "--batch", "1000"}, getenv, nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "seeded 2500 signatures into "+demoSlug+" in ") {
		t.Errorf("output = %q, want the count, the cause and the time taken", out.String())
	}
	if err := run(ctx, []string{"seed", "--signatures", "500"}, getenv, nil, io.Discard); err != nil {
		t.Fatal(err)
	}
	err := run(ctx, []string{"seed", "--signatures", "10", "--cause", "no-such-cause"}, getenv, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `no cause "no-such-cause"`) {
		t.Errorf("seeding an unknown cause: %v, want a refusal naming it", err)
	}
	if err := run(ctx, []string{"seed"}, getenv, nil, io.Discard); err == nil {
		t.Errorf("seed without --signatures succeeded")
	}

	ta := newTestApp(t, map[string]string{"RALLY_DATA": dir})
	if n := ta.count(`SELECT count(*) FROM causes`); n != 1 {
		t.Errorf("%d causes after seeding twice, want the demo cause alone", n)
	}
	r := ta.do(ta.client(), "GET", "/c/"+demoSlug+".json", nil)
	var got struct {
		Count int `json:"signature_count"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); r.status != http.StatusOK || err != nil || got.Count != 3000 {
		t.Errorf("the cause's JSON: status %d, signature_count %d, %v; want 3000", r.status, got.Count, err)
	}
}

// `rally check-signatures FILE` passes when every acknowledged signing is
// on disk with its mail, and fails naming an address that is not.
func TestCheckSignaturesFindsWhatIsMissing(t *testing.T) {
	ta := newTestApp(t, nil)
	ctx := context.Background()
	if err := addDemo(ctx, ta.app); err != nil {
		t.Fatal(err)
	}
	if r := ta.do(ta.client(), "POST", "/c/"+demoSlug+"/sign", signForm("Ada", "ada@example.org")); r.status != http.StatusOK && r.status != http.StatusSeeOther {
		t.Fatalf("sign: status %d", r.status)
	}
	env := map[string]string{"RALLY_DATA": ta.cfg.Data, "RALLY_LOG_LEVEL": "error"}
	getenv := func(k string) string { return env[k] }
	check := func(list string) (string, error) {
		t.Helper()
		file := filepath.Join(t.TempDir(), "acknowledged")
		if err := os.WriteFile(file, []byte(list), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err := run(ctx, []string{"check-signatures", file}, getenv, nil, &out)
		return out.String(), err
	}
	out, err := check("signed ada@example.org\n")
	if err != nil || !strings.Contains(out, "verified: 1 signatures on disk (of 1 acknowledged)") ||
		!strings.Contains(out, "verified: 1 confirmation mails queued or sent") {
		t.Errorf("check of Ada's signing = %v:\n%s", err, out)
	}
	out, err = check("signed ada@example.org\nsigned ghost@example.org\nconfirmed ada@example.org\n")
	if !errors.Is(err, errMissing) {
		t.Errorf("check with a signing never made = %v, want errMissing", err)
	}
	for _, want := range []string{"verified: 1 signatures on disk (of 2 acknowledged)", "verified: 0 confirmations on disk (of 1 acknowledged)",
		"MISSING: 1 signatures that got a success answer, among them ghost@example.org"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := check("ada@example.org\n"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a line without its kind: %v, want an error naming line 1", err)
	}
}
