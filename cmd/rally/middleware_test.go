package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/mattn/go-sqlite3"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/donations"
	"github.com/rallyhq/rally/templates"
)

// holdWriteLock takes the write lock of the database file at path from a
// connection of its own, as a second process would, until release.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return func() {
		_ = tx.Rollback()
		db.Close()
	}
}

// busyError returns the error SQLite gives a connection that wants to write
// while another one holds the write lock.
func busyError(t *testing.T) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "busy.db")
	release := holdWriteLock(t, path)
	defer release()
	other, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=1&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.Begin()
	var se sqlite3.Error
	if !errors.As(err, &se) || se.Code != sqlite3.ErrBusy {
		t.Fatalf("second writer: err = %v, want SQLITE_BUSY", err)
	}
	return err
}

// lockedError returns the error SQLite gives a connection that drops a
// table it is still reading.
func lockedError(t *testing.T) error {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "locked.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE t (x INTEGER); INSERT INTO t (x) VALUES (1), (2)`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.QueryContext(ctx, `SELECT x FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	rows.Next()
	_, err = conn.ExecContext(ctx, `DROP TABLE t`)
	var se sqlite3.Error
	if !errors.As(err, &se) || se.Code != sqlite3.ErrLocked {
		t.Fatalf("drop a table being read: err = %v, want SQLITE_LOCKED", err)
	}
	return err
}

// syncBuffer is a log destination the server's goroutines and the test
// may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// Every package reports an error with templates.Fail; the error pages give
// it its status: a busy database or a stopping writer is a moment's trouble
// (503, try again), something not found is 404, anything else 500, logged
// once; a client that has gone gets nothing and no log line.
func TestErrorStatusForReportedErrors(t *testing.T) {
	ta := newTestApp(t, nil)
	var logs syncBuffer
	setupLogging("info", &logs)
	t.Cleanup(func() { setupLogging("error", &bytes.Buffer{}) })

	tests := []struct {
		name    string
		err     error
		status  int
		page    string // what the page says, in English
		logged  bool
		retry   bool
		answers bool
	}{
		{"busy database", fmt.Errorf("set goal: %w", busyError(t)), http.StatusServiceUnavailable, "busy", true, true, true},
		{"locked table", fmt.Errorf("find cause: %w", lockedError(t)), http.StatusServiceUnavailable, "busy", true, true, true},
		{"writer shutting down", fmt.Errorf("sign: %w", campaigns.ErrClosed), http.StatusServiceUnavailable, "busy", true, true, true},
		{"deadline passed", fmt.Errorf("stripe event: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, "busy", true, true, true},
		{"cause not found", fmt.Errorf("find cause: %w", campaigns.ErrNotFound), http.StatusNotFound, "not found", false, false, true},
		{"donation not found", fmt.Errorf("cancel link: %w", donations.ErrNotFound), http.StatusNotFound, "not found", false, false, true},
		{"anything else", fmt.Errorf("render: %w", errors.New("template broke")), http.StatusInternalServerError, "went wrong", true, false, true},
		{"client gone", fmt.Errorf("export: %w", context.Canceled), 0, "", false, false, false},
	}
	for i, tt := range tests {
		path := fmt.Sprintf("/test/fail/%d", i)
		err := tt.err
		ta.engine.GET(path, func(c *gin.Context) { templates.Fail(c, err) })
		ta.engine.GET(path+".json", func(c *gin.Context) { templates.Fail(c, err) })
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fmt.Sprintf("/test/fail/%d", i)
			logs.take()
			r := ta.do(ta.client(), "GET", path, nil)
			log := logs.take()
			if !tt.answers {
				if r.body != "" || log != "" {
					t.Errorf("a cancelled request got a page (%q) or a log line (%q)", r.body, log)
				}
				return
			}
			if r.status != tt.status {
				t.Errorf("status %d, want %d", r.status, tt.status)
			}
			if !strings.Contains(strings.ToLower(r.body), tt.page) {
				t.Errorf("the page does not say %q:\n%s", tt.page, r.body)
			}
			if got := r.header.Get("Retry-After") != ""; got != tt.retry {
				t.Errorf("Retry-After %q, want one: %v", r.header.Get("Retry-After"), tt.retry)
			}
			if n := strings.Count(log, "request failed"); (n == 1) != tt.logged || n > 1 {
				t.Errorf("logged %d times, want logged: %v\n%s", n, tt.logged, log)
			}
			if tt.logged && !strings.Contains(log, tt.err.Error()) {
				t.Errorf("the log line lacks the error %q:\n%s", tt.err, log)
			}
			j := ta.do(ta.client(), "GET", path+".json", nil)
			var body struct{ Error string }
			if j.status != tt.status || !strings.HasPrefix(j.header.Get("Content-Type"), "application/json") ||
				json.Unmarshal([]byte(j.body), &body) != nil || body.Error == "" {
				t.Errorf("JSON route: status %d, type %q, body %s; want %d and a JSON error", j.status, j.header.Get("Content-Type"), j.body, tt.status)
			}
		})
	}
}

// An error after the answer has started (an export cut short by the
// database) cannot change the status any more, but it is still logged once.
func TestErrorAfterTheAnswerStartedIsLogged(t *testing.T) {
	ta := newTestApp(t, nil)
	var logs syncBuffer
	setupLogging("info", &logs)
	t.Cleanup(func() { setupLogging("error", &bytes.Buffer{}) })
	ta.engine.GET("/test/cut-short", func(c *gin.Context) {
		c.String(http.StatusOK, "name,email\n")
		_ = c.Error(fmt.Errorf("export signatures: %w", errors.New("disk I/O error")))
	})
	r := ta.do(ta.client(), "GET", "/test/cut-short", nil)
	if r.status != http.StatusOK || r.body != "name,email\n" {
		t.Errorf("status %d, body %q; want the rows sent as they were", r.status, r.body)
	}
	if log := logs.take(); strings.Count(log, "request failed") != 1 || !strings.Contains(log, "disk I/O error") {
		t.Errorf("want one log line with the error, got:\n%s", log)
	}
}

// A handler of each package that meets a busy database answers 503 with
// Retry-After, and the same request goes through once the database is
// free. Another connection holds the write lock; Rally's writer waits
// 50 ms for it instead of its usual 5 s.
func TestBusyDatabaseAnswers503(t *testing.T) {
	const secret = "whsec_123"
	ta := newTestApp(t, map[string]string{"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_WEBHOOK_SECRET": secret})
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Busy days")
	if _, err := ta.writer.Exec(`PRAGMA busy_timeout = 50`); err != nil {
		t.Fatal(err)
	}
	release := holdWriteLock(t, filepath.Join(ta.cfg.Data, "rally.db"))
	defer release()

	event, err := json.Marshal(map[string]any{"id": "evt_busy", "object": "event", "type": "checkout.session.completed",
		"api_version": stripe.APIVersion, "created": time.Now().Unix(), "data": map[string]any{"object": map[string]any{
			"id": "cs_busy", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
			"client_reference_id": "not-rallys", "amount_total": 500, "currency": "eur"}}})
	if err != nil {
		t.Fatal(err)
	}
	stripeEvent := func() resp {
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: event, Secret: secret})
		req, err := http.NewRequest("POST", ta.srv.URL+"/webhooks/stripe", bytes.NewReader(event))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Stripe-Signature", signed.Header)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		return resp{status: res.StatusCode, body: b.String(), header: res.Header}
	}
	requests := []struct {
		name string
		do   func() resp
		ok   int
	}{
		{"donations: set the goal", func() resp {
			return ta.do(org, "POST", "/campaigns/"+slug+"/donations/goal", url.Values{"goal": {"500"}})
		}, http.StatusSeeOther},
		{"donations: Stripe's webhook", stripeEvent, http.StatusOK},
		{"campaigns: close the cause", func() resp {
			return ta.do(org, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {"closed"}})
		}, http.StatusSeeOther},
	}
	for _, rq := range requests {
		r := rq.do()
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s while the database is busy: status %d, Retry-After %q; want 503 and when to retry",
				rq.name, r.status, r.header.Get("Retry-After"))
		}
	}
	release()
	for _, rq := range requests {
		if r := rq.do(); r.status != rq.ok {
			t.Errorf("%s once the database is free: status %d, want %d\n%s", rq.name, r.status, rq.ok, r.body)
		}
	}
}
