package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStartRunsEachScenarioAtItsMailRate runs the tool as a user would, with
// -start and three scenarios: sign and json run against Rally's default mail
// rate, confirm against an unlimited one (its links must arrive first), the
// server restarting between them on the same data, and everything signed
// and confirmed is then found on disk.
func TestStartRunsEachScenarioAtItsMailRate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts Rally")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := buildForTest(ctx, t)
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"-start", "-rally-bin", bin, "-scenario", "sign,confirm,json", "-duration", "1s",
		"-c", "8", "-links", "40", "-report-rss"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	restarts := regexp.MustCompile(`restarting rally with its mail at (.+)`).FindAllStringSubmatch(text, -1)
	if len(restarts) != 2 || restarts[0][1] != "no limit" || restarts[1][1] != "50 a second" {
		t.Errorf("restarts = %q, want one to no limit before confirm and one back to 50 a second after it\n%s", restarts, text)
	}
	if i, j := strings.Index(text, "at no limit"), strings.Index(text, "== confirm"); i < 0 || j < i {
		t.Errorf("confirm did not run after the restart to no limit:\n%s", text)
	}
	for _, name := range []string{"sign", "confirm", "json"} {
		line := regexp.MustCompile(`(?m)^` + name + `: (\d+) req/s, p50 [\d.]+ ms, p99 [\d.]+ ms, errors (\d+)`).FindStringSubmatch(text)
		if line == nil {
			t.Errorf("no summary line for %s:\n%s", name, text)
			continue
		}
		if line[1] == "0" || line[2] != "0" {
			t.Errorf("%s: %s req/s with %s errors, want some and none", name, line[1], line[2])
		}
	}
	if !regexp.MustCompile(`verified: 40 confirmations on disk \(of 40 acknowledged\)`).MatchString(text) {
		t.Errorf("the 40 confirmations were not all verified on disk:\n%s", text)
	}
	if !regexp.MustCompile(`server rss: max [\d.]+ MiB over the run`).MatchString(text) {
		t.Errorf("no RSS over the run, across the restarts:\n%s", text)
	}
}

// buildForTest builds Rally for a test that starts it, with the race
// detector when the test has it.
func buildForTest(ctx context.Context, t *testing.T) string {
	t.Helper()
	var flags []string
	if raceEnabled {
		flags = append(flags, "-race")
	}
	bin, err := buildRally(ctx, t.TempDir(), flags...)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
