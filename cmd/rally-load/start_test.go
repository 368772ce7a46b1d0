package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartRunsEachScenarioAtItsMailRate runs the tool as a user would, with
// -start, -seed and three scenarios: rally seed fills the cause first; sign
// and json run against Rally's default mail rate, confirm against an
// unlimited one (its links must arrive first), the server restarting between
// them on the same data; and rally check-signatures then finds everything
// signed and confirmed on disk.
func TestStartRunsEachScenarioAtItsMailRate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts Rally")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := buildForTest(ctx, t)
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"-start", "-rally-bin", bin, "-scenario", "sign,confirm,json", "-duration", "1s",
		"-c", "8", "-links", "40", "-report-rss", "-seed", "3000", "-seed-batch", "1000"}, &out, &errOut)
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
	if !strings.Contains(text, "seeded 3000 signatures into "+demoSlug) {
		t.Errorf("no seeding before the run:\n%s", text)
	}
	if m := regexp.MustCompile(`verified: (\d+) signatures on disk \(of (\d+) acknowledged\)`).FindStringSubmatch(text); m == nil || m[1] != m[2] || m[1] == "0" {
		t.Errorf("the signings were not all verified on disk:\n%s", text)
	}
	if !regexp.MustCompile(`verified: 40 confirmations on disk \(of 40 acknowledged\)`).MatchString(text) {
		t.Errorf("the 40 confirmations were not all verified on disk:\n%s", text)
	}
	if !regexp.MustCompile(`server rss: max [\d.]+ MiB over the run`).MatchString(text) {
		t.Errorf("no RSS over the run, across the restarts:\n%s", text)
	}
}

// migratedForTest builds Rally and makes it a data folder with its
// database, for a test that starts it.
func migratedForTest(ctx context.Context, t *testing.T) (bin, data string) {
	t.Helper()
	bin = buildForTest(ctx, t)
	data = filepath.Join(t.TempDir(), "data")
	if err := migrateData(ctx, bin, data); err != nil {
		t.Fatal(err)
	}
	return bin, data
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

// TestMemoryLimitFollowsConnections opens 200 idle connections to a real
// `rally serve` and reads Go's memory limit from /metrics: it rises above
// the 40 MiB base while they are open and comes back once they close.
func TestMemoryLimitFollowsConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts Rally")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, data := migratedForTest(ctx, t)
	srv, err := startRally(ctx, serverConfig{Bin: bin, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(30 * time.Second) }()
	limit := func() float64 {
		t.Helper()
		resp, err := http.Get(srv.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes (\S+)$`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no go_gc_gomemlimit_bytes in /metrics")
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v / (1 << 20)
	}
	if l := limit(); l != 40 {
		t.Fatalf("limit with no load: %.1f MiB, want 40", l)
	}
	var conns []net.Conn
	for range 200 {
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The server counts a connection once it has accepted it, and the
	// limit moves in steps of an eighth, so it passes through 45 MiB on
	// the way up while the last connections are still being accepted.
	want := 40 + 200.0/16
	var l float64
	for begin := time.Now(); time.Since(begin) < 10*time.Second; time.Sleep(20 * time.Millisecond) {
		if l = limit(); l >= want-want/8 {
			break
		}
	}
	if l < want-want/8 || l > want {
		t.Errorf("limit with 200 connections open: %.1f MiB, want within an eighth below %.1f", l, want)
	}
	for _, c := range conns {
		c.Close()
	}
	for begin := time.Now(); time.Since(begin) < 10*time.Second; time.Sleep(20 * time.Millisecond) {
		if l = limit(); l < 46 {
			break
		}
	}
	if l > 45 {
		t.Errorf("limit after they closed: %.1f MiB, want back within an eighth of 40", l)
	}
}
