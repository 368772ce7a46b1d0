package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/cmd/rally/database"
)

// TestKillLosesNothingAcknowledged signs under load over HTTP, kills
// Rally with SIGKILL while requests are in flight, restarts it on the same
// data, and then checks through Rally's own store and outbox that every
// signing that got its "check your email" page is on disk with its
// confirmation mail queued or sent (a sent one with its .eml file), and
// that the database is sound.
func TestKillLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Rally and kills it under load")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := buildRally(ctx, t)
	data := filepath.Join(t.TempDir(), "data")
	// A slow mail rate keeps most confirmation mails queued at the kill.
	srv := startRally(ctx, t, bin, data)

	const workers = 32
	client := &http.Client{Timeout: 5 * time.Second,
		Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: workers},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	email := func(n int64) string { return "kill-" + run + "-" + strconv.FormatInt(n, 10) + "@load.example" }
	var (
		seq, acks, inFlight atomic.Int64
		mu                  sync.Mutex
		acked               []string
		wg                  sync.WaitGroup
	)
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	for range workers {
		wg.Go(func() {
			for loadCtx.Err() == nil {
				n := seq.Add(1)
				form := url.Values{"name": {"Kill Signer"}, "email": {email(n)}, "country": {"FR"}, "updates": {"1"}}
				req, _ := http.NewRequestWithContext(loadCtx, http.MethodPost, srv.url+"/c/"+demoSlug+"/sign", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				inFlight.Add(1)
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				inFlight.Add(-1)
				if err == nil && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusSeeOther) {
					mu.Lock()
					acked = append(acked, email(n))
					mu.Unlock()
					acks.Add(1)
				}
			}
		})
	}
	// Load for about two seconds and at least 150 acknowledged signings
	// (a slow, shared machine may need longer), then kill mid-flight.
	begin := time.Now()
	for time.Since(begin) < 2*time.Second || acks.Load() < 150 {
		if time.Since(begin) > 20*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	busy := inFlight.Load()
	srv.kill(t)
	stopLoad()
	wg.Wait()
	t.Logf("killed after %s with %d requests in flight: %d signings acknowledged",
		time.Since(begin).Round(time.Millisecond), busy, len(acked))
	if busy == 0 {
		t.Errorf("no request was in flight at the kill")
	}
	if len(acked) <= 100 {
		t.Fatalf("only %d signings acknowledged before the kill; want more than 100 for the test to mean something", len(acked))
	}

	// Rally starts again on what the kill left, and stops cleanly.
	startRally(ctx, t, bin, data).stop(t)

	w, r, err := database.Open(data, "full")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	store := campaigns.NewStore(w, r)
	defer store.Close()
	cz, err := store.FindCauseBySlug(ctx, demoSlug)
	if err != nil {
		t.Fatal(err)
	}
	d, err := checkAcknowledged(ctx, store, r, cz.ID, acknowledged{signed: acked})
	if err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	d.print(&report)
	if !d.ok() {
		t.Fatalf("after the kill:\n%s", report.String())
	}
	// The dev outbox writes and syncs a mail's file before its row says
	// sent: a sent mail without its file was lost.
	files, err := os.ReadDir(filepath.Join(data, "mail"))
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]bool{}
	for _, f := range files {
		if name, ok := strings.CutSuffix(f.Name(), ".eml"); ok {
			written[name[strings.LastIndexByte(name, '-')+1:]] = true
		}
	}
	for _, e := range acked {
		for _, m := range d.mails[e] {
			if m.Status == "sent" && !written[strconv.FormatInt(m.ID, 10)] {
				t.Errorf("%s: outbox mail %d is marked sent but its .eml file is missing", e, m.ID)
			}
		}
	}
	t.Logf("%s(%d signatures on disk in all, the rest committed with their answer cut off)", report.String(), mustStats(t, store, cz.ID))
}

func mustStats(t *testing.T, s *campaigns.Store, causeID int64) int64 {
	t.Helper()
	st, err := s.Stats(context.Background(), causeID)
	if err != nil {
		t.Fatal(err)
	}
	return st.Pending + st.Confirmed
}

// buildRally builds this command for a test that runs it, with the race
// detector when the test has it.
func buildRally(ctx context.Context, t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rally")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.CommandContext(ctx, "go", append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// rallyProcess is a `rally serve --demo` child process on a free loopback
// port.
type rallyProcess struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{}
	log  strings.Builder // guarded by mu
	mu   sync.Mutex
}

func (p *rallyProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func (p *rallyProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// startRally starts Rally on data with its demo cause, the rate limits off
// and mail at Rally's default rate into the dev outbox, and waits until
// /healthz answers; flags, given last, win over these. The test kills it
// at the end if it still runs.
func startRally(ctx context.Context, t *testing.T, bin, data string, flags ...string) *rallyProcess {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &rallyProcess{url: "http://" + addr, done: make(chan struct{})}
	args := []string{"serve", "--demo", "--addr", addr, "--data", data, "--base-url", p.url,
		"--rate-limits", "off", "--log-level", "warn", "--mail-rate", "50", "--sync", "full"}
	p.cmd = exec.Command(bin, append(args, flags...)...)
	p.cmd.Env = append(os.Environ(), "RALLY_SMTP_URL=", "STRIPE_SECRET_KEY=", "STRIPE_WEBHOOK_SECRET=")
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill(t)
		if out := p.output(); t.Failed() && out != "" {
			t.Logf("rally's output:\n%s", out)
		}
	})
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := client.Get(p.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("rally exited before it was healthy:\n%s", p.output())
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rally not healthy after a minute:\n%s", p.output())
		}
	}
}

// kill ends Rally at once, as a crash or the OOM killer would, and waits
// until it is gone.
func (p *rallyProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("kill: %v", err)
	}
	<-p.done
}

// stop asks Rally to shut down (SIGTERM) and waits for it to exit cleanly.
func (p *rallyProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("rally did not stop within 30 s:\n%s", p.output())
	}
	if !p.cmd.ProcessState.Success() {
		t.Errorf("rally stopped with %v:\n%s", p.cmd.ProcessState, p.output())
	}
}
