package notify

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestEnqueueValidates(t *testing.T) {
	db, _ := mustOpenDB(t)
	tests := []struct {
		name string
		edit func(m *Message)
		ok   bool
	}{
		{"valid", func(m *Message) {}, true},
		{"extra header", func(m *Message) { m.Headers = map[string]string{"List-Unsubscribe": "<https://x/u/1>"} }, true},
		{"bad recipient", func(m *Message) { m.To = "not an address" }, false},
		{"empty subject", func(m *Message) { m.Subject = " " }, false},
		{"no text part", func(m *Message) { m.Text = "" }, false},
		{"reserved header", func(m *Message) { m.Headers = map[string]string{"Bcc": "x@example.org"} }, false},
		{"malformed header name", func(m *Message) { m.Headers = map[string]string{"X-A\r\nBcc": "x"} }, false},
		{"by template, data encoded", func(m *Message) {
			m.Subject, m.Text, m.HTML, m.Template, m.DataJSON = "", "", "", "signature_confirm", `{"Name":"Ada"}`
		}, true},
		{"encoded data without a template", func(m *Message) { m.DataJSON = `{"Name":"Ada"}` }, false},
		{"data twice", func(m *Message) {
			m.Subject, m.Text, m.HTML, m.Template = "", "", "", "signature_confirm"
			m.Data, m.DataJSON = map[string]string{"Name": "Ada"}, `{"Name":"Ada"}`
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage("ada@example.org")
			tt.edit(&m)
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			err = Enqueue(context.Background(), tx, m)
			if (err == nil) != tt.ok {
				t.Errorf("Enqueue err = %v, want ok = %v", err, tt.ok)
			}
		})
	}
}

func TestWorkerDeliversQueuedMail(t *testing.T) {
	db, _ := mustOpenDB(t)
	srv := startSMTP(t, smtpOptions{})
	s, err := NewSMTPSender("smtp://"+srv.Addr+"?tls=none", "Rally <rally@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	w := NewWorker(db, s, WorkerOptions{Logger: testLogger(t), Now: clk.Now})
	fr := testMessage("elodie@example.fr")
	fr.Lang, fr.ToName, fr.Subject = "fr", "Élodie", "Confirmez votre signature : « Forêt de Compiègne »"
	mustEnqueue(t, db, testMessage("ada@example.org"), fr, testMessage("grace@example.org"))

	n, err := w.DeliverDue(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("DeliverDue = %d, %v; want 3, nil", n, err)
	}
	got := srv.received()
	if len(got) != 3 {
		t.Fatalf("server got %d messages, want 3", len(got))
	}
	if n := srv.sessionCount(); n != 1 {
		t.Errorf("SMTP sessions = %d, want 1 for the batch", n)
	}
	for _, to := range []string{"ada@example.org", "elodie@example.fr", "grace@example.org"} {
		r := mustRow(t, db, to)
		if r.Status != "sent" || !r.Sent || r.Attempts != 1 || r.Leased || r.LastError != "" {
			t.Errorf("%s: row = %+v, want sent after 1 attempt, lease released", to, r)
		}
	}
	var wantID string
	if err := db.QueryRow(`SELECT message_id FROM outbox WHERE to_addr = 'elodie@example.fr'`).Scan(&wantID); err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if r.To[0] != "elodie@example.fr" {
			continue
		}
		p := mustParseMail(t, r.Data)
		if p.Subject != fr.Subject || p.To.Name != "Élodie" || p.Header.Get("Content-Language") != "fr" {
			t.Errorf("French mail: subject %q, name %q, language %q", p.Subject, p.To.Name, p.Header.Get("Content-Language"))
		}
		if id := p.Header.Get("Message-Id"); id != "<"+wantID+">" {
			t.Errorf("Message-ID = %s, want the queued <%s>", id, wantID)
		}
		if !strings.HasSuffix(wantID, "@"+MessageDomain) {
			t.Errorf("Message-ID %s is not in %s", wantID, MessageDomain)
		}
	}

	if n, err := w.DeliverDue(context.Background()); err != nil || n != 0 {
		t.Errorf("second DeliverDue = %d, %v; want nothing left", n, err)
	}
}

func TestWorkerSendsTransactionalBeforeBulk(t *testing.T) {
	db, _ := mustOpenDB(t)
	rec := &recordingSender{}
	w := NewWorker(db, rec, WorkerOptions{Logger: testLogger(t), Batch: 1, Now: newClock().Now})
	bulk1, bulk2 := testMessage("bulk1@example.org"), testMessage("bulk2@example.org")
	bulk1.Priority, bulk2.Priority = Bulk, Bulk
	mustEnqueue(t, db, bulk1, bulk2)
	mustEnqueue(t, db, testMessage("confirm@example.org"))

	var order []string
	for range 3 {
		if n, err := w.DeliverDue(context.Background()); err != nil || n != 1 {
			t.Fatalf("DeliverDue = %d, %v", n, err)
		}
	}
	for _, m := range rec.sent {
		order = append(order, m.To)
	}
	want := "confirm@example.org bulk1@example.org bulk2@example.org"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("order = %s, want %s", got, want)
	}
}

func TestWorkerRetriesWithBackoffThenFails(t *testing.T) {
	db, _ := mustOpenDB(t)
	srv := startSMTP(t, smtpOptions{Reject: rejections})
	s, err := NewSMTPSender("smtp://"+srv.Addr+"?tls=none", "")
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	w := NewWorker(db, s, WorkerOptions{Logger: testLogger(t), Now: clk.Now})
	mustEnqueue(t, db, testMessage("later@example.org"), testMessage("nobody@example.org"))

	if n, err := w.DeliverDue(context.Background()); err != nil || n != 2 {
		t.Fatalf("first DeliverDue = %d, %v; want 2", n, err)
	}
	// A 5xx reply fails the message at once, with the reply kept.
	r := mustRow(t, db, "nobody@example.org")
	if r.Status != "failed" || r.Attempts != 1 || !containsAll(r.LastError, "550", "No such user") {
		t.Errorf("permanent failure: row = %+v, want failed with the 550 reply", r)
	}

	// A 4xx reply is retried after 1 m, 5 m, 30 m, 2 h and 12 h, then failed.
	wantDelays := []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 12 * time.Hour}
	for attempt := 1; attempt <= 6; attempt++ {
		r := mustRow(t, db, "later@example.org")
		if r.Attempts != attempt || !containsAll(r.LastError, "451", "Try again later") || r.Leased {
			t.Fatalf("after attempt %d: row = %+v", attempt, r)
		}
		if attempt == 6 {
			if r.Status != "failed" {
				t.Errorf("after the last attempt: status %s, want failed", r.Status)
			}
			break
		}
		if r.Status != "queued" {
			t.Fatalf("after attempt %d: status %s, want queued", attempt, r.Status)
		}
		if want := clk.Now().Add(wantDelays[attempt-1]); !r.NextAt.Equal(want) {
			t.Errorf("after attempt %d: next attempt at %v, want %v", attempt, r.NextAt, want)
		}
		clk.Set(r.NextAt.Add(-time.Second))
		if n, err := w.DeliverDue(context.Background()); err != nil || n != 0 {
			t.Fatalf("a second before the retry: DeliverDue = %d, %v; want 0", n, err)
		}
		clk.Set(r.NextAt)
		if n, err := w.DeliverDue(context.Background()); err != nil || n != 1 {
			t.Fatalf("retry %d: DeliverDue = %d, %v; want 1", attempt, n, err)
		}
	}
	clk.Add(48 * time.Hour)
	if n, err := w.DeliverDue(context.Background()); err != nil || n != 0 {
		t.Errorf("after failing: DeliverDue = %d, %v; want nothing", n, err)
	}
	if got := srv.received(); len(got) != 0 {
		t.Errorf("server accepted %d messages, want 0", len(got))
	}
}

// crashingSender stands for a worker process that dies in the middle of
// sending: it never returns, so no outcome is recorded.
type crashingSender struct{}

type crash struct{}

func (crashingSender) Send(context.Context, []Message) []error { panic(crash{}) }

// deliverAndCrash runs w.DeliverDue and reports whether the worker "died".
func deliverAndCrash(t *testing.T, w *Worker) (died bool) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
			died = true
		}
	}()
	if _, err := w.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	return false
}

func TestLeasedMailOfDeadWorkerIsDeliveredOnceAfterLease(t *testing.T) {
	db, _ := mustOpenDB(t)
	srv := startSMTP(t, smtpOptions{})
	s, err := NewSMTPSender("smtp://"+srv.Addr+"?tls=none", "")
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	t0 := clk.Now()
	lease := 5 * time.Minute
	a := NewWorker(db, crashingSender{}, WorkerOptions{Logger: testLogger(t), Now: clk.Now, Lease: lease})
	b := NewWorker(db, s, WorkerOptions{Logger: testLogger(t), Now: clk.Now, Lease: lease})
	mustEnqueue(t, db, testMessage("ada@example.org"))

	if !deliverAndCrash(t, a) {
		t.Fatal("worker A did not claim the message")
	}
	if r := mustRow(t, db, "ada@example.org"); r.Status != "queued" || !r.Leased || r.Attempts != 1 {
		t.Fatalf("after A died: row = %+v, want queued and leased", r)
	}

	for _, at := range []time.Duration{0, time.Minute, lease - time.Second} {
		clk.Set(t0.Add(at))
		if n, err := b.DeliverDue(context.Background()); err != nil || n != 0 {
			t.Fatalf("at +%v, inside A's lease: B's DeliverDue = %d, %v; want 0", at, n, err)
		}
	}
	if got := len(srv.received()); got != 0 {
		t.Fatalf("delivered %d messages while A's lease held, want 0", got)
	}

	clk.Set(t0.Add(lease))
	if n, err := b.DeliverDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("at lease expiry: B's DeliverDue = %d, %v; want 1", n, err)
	}
	for _, later := range []time.Duration{time.Second, lease, 24 * time.Hour} {
		clk.Set(t0.Add(lease + later))
		if n, err := b.DeliverDue(context.Background()); err != nil || n != 0 {
			t.Fatalf("B's DeliverDue at +%v = %d, %v; want 0", lease+later, n, err)
		}
	}
	got := srv.received()
	if len(got) != 1 || got[0].To[0] != "ada@example.org" {
		t.Fatalf("server got %d messages, want exactly 1 to ada@example.org", len(got))
	}
	r := mustRow(t, db, "ada@example.org")
	if r.Status != "sent" || r.Attempts != 2 || r.Leased {
		t.Errorf("row = %+v, want sent on the second attempt", r)
	}

	// Had A only stalled, its late outcome must not overwrite B's.
	var id int64
	if err := db.QueryRow(`SELECT id FROM outbox WHERE to_addr = 'ada@example.org'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	n, err := record(context.Background(), db, clk.Now(), []result{{id: id, attempts: 1, failed: true, lastErr: "stale"}})
	if err != nil || n != 0 {
		t.Errorf("stale outcome updated %d rows (err %v), want 0", n, err)
	}
	if r := mustRow(t, db, "ada@example.org"); r.Status != "sent" {
		t.Errorf("after a stale outcome: status %s, want sent", r.Status)
	}
}

func TestMailThatKeepsKillingWorkersIsFailed(t *testing.T) {
	db, _ := mustOpenDB(t)
	clk := newClock()
	a := NewWorker(db, crashingSender{}, WorkerOptions{Logger: testLogger(t), Now: clk.Now, Lease: time.Minute})
	mustEnqueue(t, db, testMessage("poison@example.org"))
	for i := 1; i <= maxAttempts; i++ {
		if !deliverAndCrash(t, a) {
			t.Fatalf("claim %d: worker did not claim the message", i)
		}
		clk.Add(time.Minute)
	}
	if deliverAndCrash(t, a) {
		t.Fatal("the message was handed to the sender again after every attempt was used")
	}
	if r := mustRow(t, db, "poison@example.org"); r.Status != "failed" || !strings.Contains(r.LastError, "no outcome") {
		t.Errorf("row = %+v, want failed", r)
	}
}

// recordingSender accepts every message and remembers it.
type recordingSender struct {
	sent []Message
}

func (s *recordingSender) Send(_ context.Context, msgs []Message) []error {
	s.sent = append(s.sent, msgs...)
	return make([]error, len(msgs))
}

// blockingSender reports each batch on started and waits for release.
type blockingSender struct {
	started chan int
	release chan struct{}
}

func (s *blockingSender) Send(_ context.Context, msgs []Message) []error {
	s.started <- len(msgs)
	<-s.release
	return make([]error, len(msgs))
}

func TestWorkerRunFinishesBatchInFlightOnCancel(t *testing.T) {
	db, _ := mustOpenDB(t)
	bs := &blockingSender{started: make(chan int, 1), release: make(chan struct{})}
	w := NewWorker(db, bs, WorkerOptions{Logger: testLogger(t), Poll: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	mustEnqueue(t, db, testMessage("ada@example.org"))
	w.Kick()
	if n := <-bs.started; n != 1 {
		t.Fatalf("batch of %d, want 1", n)
	}
	cancel()
	close(bs.release)
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if r := mustRow(t, db, "ada@example.org"); r.Status != "sent" || r.Leased {
		t.Errorf("row = %+v, want the in-flight message recorded as sent", r)
	}
}

func TestWorkerBatchSizeFollowsRate(t *testing.T) {
	tests := []struct {
		rate  float64
		batch int
		want  int
	}{
		{0, 0, 50},
		{0, 200, 200},
		{50, 0, 50},
		{200, 0, 50},
		{10, 0, 10},
		{0.5, 0, 1},
	}
	for _, tt := range tests {
		w := NewWorker(nil, nil, WorkerOptions{Rate: tt.rate, Batch: tt.batch})
		if got := w.batchSize(); got != tt.want {
			t.Errorf("rate %v, batch %d: batch size %d, want %d", tt.rate, tt.batch, got, tt.want)
		}
	}
}

// Sent mail past KeepSent is deleted; newer sent mail, queued mail and
// failed mail stay.
func TestWorkerDeletesOldSentMail(t *testing.T) {
	db, _ := mustOpenDB(t)
	clk := newClock()
	w := NewWorker(db, &recordingSender{}, WorkerOptions{Logger: testLogger(t), Now: clk.Now, KeepSent: 24 * time.Hour})
	var old []Message
	for i := range 2500 {
		old = append(old, testMessage(fmt.Sprintf("old%d@example.org", i)))
	}
	mustEnqueue(t, db, old...)
	for {
		n, err := w.deliverDue(context.Background(), 500)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	clk.Add(25 * time.Hour)
	mustEnqueue(t, db, testMessage("recent@example.org"), testMessage("failed@example.org"))
	if _, err := w.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE outbox SET status = 'failed', sent_at = NULL WHERE to_addr = 'failed@example.org'`); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, db, testMessage("queued@example.org"))

	n, err := w.PurgeSent(context.Background())
	if err != nil || n != 2500 {
		t.Fatalf("PurgeSent = %d, %v; want the 2,500 sent a day ago", n, err)
	}
	rows, err := db.Query(`SELECT to_addr || ' ' || status FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var left []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		left = append(left, s)
	}
	want := []string{"recent@example.org sent", "failed@example.org failed", "queued@example.org queued"}
	if strings.Join(left, ",") != strings.Join(want, ",") {
		t.Errorf("outbox after the purge = %q, want %q", left, want)
	}
}
