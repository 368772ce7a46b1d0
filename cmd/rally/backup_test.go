package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/cmd/rally/database"
	"github.com/rallyhq/rally/notify"
)

// lockedBuffer is an output several commands may log to at once (the
// logger is the process's).
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rallyCmd runs a rally command line with the given environment.
func rallyCmd(ctx context.Context, env map[string]string, args ...string) (string, error) {
	var out lockedBuffer
	err := run(ctx, args, func(k string) string { return env[k] }, strings.NewReader(""), &out)
	return out.String(), err
}

// TestBackupUnderLoadRestoresEveryAcknowledgedSignature: a backup taken
// while people sign, restored into an empty data folder, holds every
// signature acknowledged before the backup started, each with its
// confirmation mail, and the uploads and the secret of signed links too.
func TestBackupUnderLoadRestoresEveryAcknowledgedSignature(t *testing.T) {
	ta := newTestApp(t, map[string]string{"RALLY_RATE_LIMITS": "off", "RALLY_MAIL_RATE": "0"})
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air")
	if err := os.MkdirAll(filepath.Join(ta.cfg.Data, "uploads"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ta.cfg.Data, "uploads", "picture.png"), []byte("not really a picture"), 0o640); err != nil {
		t.Fatal(err)
	}

	// Signers sign until told to stop, each noting the addresses whose
	// "check your email" page came back.
	var (
		mu     sync.Mutex
		acked  []string
		seq    atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
		failed atomic.Value
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 30 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				email := fmt.Sprintf("load%d@example.org", seq.Add(1))
				res, err := c.PostForm(ta.srv.URL+"/c/"+slug+"/sign", signForm("Load Signer", email))
				if err != nil {
					failed.Store(err.Error())
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					failed.Store(fmt.Sprintf("status %d", res.StatusCode))
					return
				}
				mu.Lock()
				acked = append(acked, email)
				mu.Unlock()
			}
		}()
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 {
			break
		}
		if f := failed.Load(); f != nil {
			t.Fatalf("signing under load failed: %v", f)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	file := filepath.Join(t.TempDir(), "rally-backup.db")
	env := map[string]string{"RALLY_DATA": ta.cfg.Data, "RALLY_LOG_LEVEL": "error"}
	if out, err := rallyCmd(context.Background(), env, "backup", file); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	close(stop)
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatalf("signing under load failed: %v", f)
	}
	mu.Lock()
	t.Logf("%d signings acknowledged before the backup started, %d in all", len(before), len(acked))
	mu.Unlock()

	restored := t.TempDir()
	out, err := rallyCmd(context.Background(), map[string]string{"RALLY_DATA": restored, "RALLY_LOG_LEVEL": "error"}, "restore", file)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	w, r, err := database.Open(restored, "full")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	s := campaigns.NewStore(w, r)
	defer s.Close()
	cz, err := s.FindCauseBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	states, err := s.SignatureStates(context.Background(), cz.ID, before)
	if err != nil {
		t.Fatal(err)
	}
	mails, err := notify.DeliveriesTo(context.Background(), r, before)
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, e := range before {
		if !states[e].Signed || len(mails[e]) == 0 {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of the %d signatures acknowledged before the backup are missing from it, or their mail is", lost, len(before))
	}
	if b, err := os.ReadFile(filepath.Join(restored, "uploads", "picture.png")); err != nil || string(b) != "not really a picture" {
		t.Errorf("the upload was not restored: %q, %v", b, err)
	}
	if got, err := os.ReadFile(filepath.Join(restored, secretFile)); err != nil || strings.TrimSpace(string(got)) != string(ta.secret) {
		t.Errorf("the secret of signed links was not restored: %v", err)
	}
	if st, err := os.Stat(filepath.Join(restored, secretFile)); err == nil && st.Mode().Perm() != 0o600 {
		t.Errorf("the restored secret has mode %v, want 0600", st.Mode().Perm())
	}
}

// TestRestoreRefusals: restore changes nothing while a Rally serves from
// the data folder, nor from a copy that fails its integrity check; once
// Rally has stopped, it puts a good copy in place and keeps what it
// replaced.
func TestRestoreRefusals(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{"RALLY_DATA": data, "RALLY_LOG_LEVEL": "error", "RALLY_ADDR": "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		_, err := rallyCmd(ctx, env, "serve")
		served <- err
	}()
	// A good backup of the serving Rally.
	file := filepath.Join(t.TempDir(), "backup.db")
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The secret is made once the migrations are applied.
		if _, err := os.Stat(filepath.Join(data, secretFile)); err == nil {
			if _, err := rallyCmd(context.Background(), env, "backup", file); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("rally serve did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := rallyCmd(context.Background(), env, "restore", file); err == nil || !strings.Contains(err.Error(), "serving") {
		t.Errorf("restore while Rally serves: %v, want it refused", err)
	}
	if kept, _ := filepath.Glob(database.Path(data) + ".before-restore-*"); len(kept) > 0 {
		t.Errorf("a restore refused while Rally serves moved the database aside: %v", kept)
	}
	cancel()
	if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("serve: %v", err)
	}
	// Read once Rally has stopped: stopping checkpoints its WAL into the file.
	before, _ := os.ReadFile(database.Path(data))

	// A damaged copy: a SQLite header, then garbage.
	bad := filepath.Join(t.TempDir(), "bad.db")
	garbage := append([]byte("SQLite format 3\x00"), []byte(strings.Repeat("\x07 not a page ", 1000))...)
	if err := os.WriteFile(bad, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rallyCmd(context.Background(), env, "restore", bad); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("restore of a damaged copy: %v, want it refused", err)
	}
	// A SQLite database that is not Rally's.
	otherDir := t.TempDir()
	ow, or, err := database.Open(otherDir, "full")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ow.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	or.Close()
	ow.Close()
	if _, err := rallyCmd(context.Background(), env, "restore", database.Path(otherDir)); err == nil || !strings.Contains(err.Error(), "not a Rally database") {
		t.Errorf("restore of another program's database: %v, want it refused", err)
	}
	if after, _ := os.ReadFile(database.Path(data)); string(after) != string(before) {
		t.Errorf("a refused restore changed the database")
	}

	// Stopped: it restores, and keeps the database it replaced.
	out, err := rallyCmd(context.Background(), env, "restore", file)
	if err != nil {
		t.Fatalf("restore once stopped: %v\n%s", err, out)
	}
	kept, _ := filepath.Glob(database.Path(data) + ".before-restore-*")
	if len(kept) == 0 {
		t.Errorf("the replaced database was not kept; restore said:\n%s", out)
	}
	if _, err := rallyCmd(context.Background(), env, "migrate"); err != nil {
		t.Errorf("the restored database does not open: %v", err)
	}
}
