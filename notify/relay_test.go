package notify

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metric returns a line of the /metrics page, such as
// "rally_mail_relay_up 1", for the metric named.
func metric(t *testing.T, name string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return line
		}
	}
	return ""
}

// mustSMTPSender returns a plain-text sender to srv whose idle connections
// are closed when the test ends.
func mustSMTPSender(t *testing.T, addr string) *SMTPSender {
	t.Helper()
	s, err := NewSMTPSender("smtp://"+addr+"?tls=none", "Rally <rally@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.CloseIdle)
	return s
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func testMessages(prefix string, n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = testMessage(fmt.Sprintf("%s%02d@example.org", prefix, i))
	}
	return msgs
}

// mustDeliverAll runs rounds until nothing is due.
func mustDeliverAll(t *testing.T, w *Worker) {
	t.Helper()
	for {
		n, err := w.DeliverDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// assertDeliveredOnce checks that the server got exactly one message to
// each of msgs' recipients, and nothing else.
func assertDeliveredOnce(t *testing.T, srv *smtpServer, msgs []Message) {
	t.Helper()
	got := map[string]int{}
	for _, r := range srv.received() {
		for _, to := range r.To {
			got[to]++
		}
	}
	for _, m := range msgs {
		if got[m.To] != 1 {
			t.Errorf("%s received %d times, want once", m.To, got[m.To])
		}
		delete(got, m.To)
	}
	for to, n := range got {
		t.Errorf("%s received %d times, was never queued", to, n)
	}
}

// A relay that answers every reply slowly: the batch takes over three leases to
// send. Each mail is delivered once and recorded as it goes, while no other
// worker can claim what this one still sends.
func TestWorkerSlowRelayDeliversEachMailOnce(t *testing.T) {
	db, reader := mustOpenDB(t)
	srv := startSMTP(t, smtpOptions{})
	clk := newClock()
	t0 := clk.Now()
	lease := 5 * time.Minute
	a := NewWorker(db, mustSMTPSender(t, srv.Addr), WorkerOptions{Logger: testLogger(t), Now: clk.Now, Lease: lease})
	rival := &recordingSender{}
	b := NewWorker(db, rival, WorkerOptions{Logger: testLogger(t), Now: clk.Now, Lease: lease})
	msgs := testMessages("slow", 12)
	mustEnqueue(t, db, msgs...)

	// Every line the relay writes takes 20 s of the workers' clock.
	srv.setBeforeReply(func() { clk.Add(20 * time.Second) })
	var gaveUp atomic.Bool
	srv.setOnMail(func(int) {
		// What the relay accepted so far is recorded while the batch is
		// still being sent…
		accepted := len(srv.received())
		deadline := time.Now().Add(10 * time.Second)
		for !gaveUp.Load() {
			var sent int
			if err := reader.QueryRow(`SELECT count(*) FROM outbox WHERE status = 'sent'`).Scan(&sent); err != nil {
				t.Error(err)
				break
			}
			if sent >= accepted {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("at +%v, %d messages accepted by the relay, %d recorded as sent", clk.Now().Sub(t0), accepted, sent)
				gaveUp.Store(true)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		// … and no other worker can claim what this one holds.
		if n, err := b.DeliverDue(context.Background()); err != nil || n != 0 {
			t.Errorf("at +%v, another worker claimed %d messages (err %v), want 0", clk.Now().Sub(t0), n, err)
		}
	})
	n, err := a.DeliverDue(context.Background())
	if err != nil || n != len(msgs) {
		t.Fatalf("DeliverDue = %d, %v; want %d", n, err, len(msgs))
	}
	if took := clk.Now().Sub(t0); took < 3*lease {
		t.Fatalf("the batch took %v of the clock, want a relay slower than three leases", took)
	}
	srv.setOnMail(nil)
	srv.setBeforeReply(nil)

	clk.Add(lease + time.Hour)
	for _, w := range []*Worker{a, b} {
		if n, err := w.DeliverDue(context.Background()); err != nil || n != 0 {
			t.Errorf("after the batch: DeliverDue = %d, %v; want nothing left", n, err)
		}
	}
	assertDeliveredOnce(t, srv, msgs)
	for _, m := range msgs {
		if r := mustRow(t, db, m.To); r.Status != "sent" || r.Attempts != 1 || r.Leased {
			t.Errorf("%s: row = %+v, want sent on the first attempt", m.To, r)
		}
	}
	if len(rival.sent) != 0 {
		t.Errorf("the other worker sent %d messages", len(rival.sent))
	}
}

// A relay that refuses Rally's sender (530 at MAIL FROM) is the relay's
// problem: no mail is failed or loses an attempt, the worker waits longer
// each time and says so once, and mail flows once the relay is fixed.
func TestWorkerBacksOffWhenRelayRefusesSender(t *testing.T) {
	db, _ := mustOpenDB(t)
	srv := startSMTP(t, smtpOptions{})
	srv.refuseSender(&smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"})
	clk := newClock()
	logger, logs := bufferLogger(t)
	w := NewWorker(db, mustSMTPSender(t, srv.Addr), WorkerOptions{Logger: logger, Now: clk.Now})
	msgs := testMessages("queued", 3)
	mustEnqueue(t, db, msgs...)

	for round := 1; round <= 4; round++ {
		if n, err := w.DeliverDue(context.Background()); err != nil || n != len(msgs) {
			t.Fatalf("round %d: DeliverDue = %d, %v; want %d", round, n, err, len(msgs))
		}
		for _, m := range msgs {
			r := mustRow(t, db, m.To)
			if r.Status != "queued" || r.Attempts != 0 || r.Leased || !r.NextAt.Before(clk.Now().Add(time.Second)) ||
				!containsAll(r.LastError, "530", "Authentication required") {
				t.Fatalf("round %d: %s row = %+v, want queued, due, no attempt counted, the reply kept", round, m.To, r)
			}
		}
		wait, ok := w.relayWait(clk.Now())
		if want := time.Second << (round - 1); !ok || wait != want {
			t.Fatalf("round %d: worker waits %v (%v), want %v", round, wait, ok, want)
		}
		// While it waits, the worker claims nothing and leaves the relay alone.
		tries := srv.commandCount("MAIL")
		clk.Add(wait - time.Millisecond)
		if n, err := w.DeliverDue(context.Background()); err != nil || n != 0 {
			t.Fatalf("round %d, while waiting: DeliverDue = %d, %v; want 0", round, n, err)
		}
		if got := srv.commandCount("MAIL"); got != tries {
			t.Fatalf("round %d: the worker tried the relay while waiting", round)
		}
		clk.Add(time.Millisecond)
	}
	if n := logs.count("level=ERROR", "refuses"); n != 1 {
		t.Errorf("%d error lines about the refusal, want 1", n)
	}
	if n := logs.count("mail failed"); n != 0 {
		t.Errorf("%d mails logged as failed, want 0", n)
	}
	if got := metric(t, "rally_mail_relay_up"); got != "rally_mail_relay_up 0" {
		t.Errorf("metrics say %q while refused, want rally_mail_relay_up 0", got)
	}

	srv.refuseSender(nil)
	if n, err := w.DeliverDue(context.Background()); err != nil || n != len(msgs) {
		t.Fatalf("after the fix: DeliverDue = %d, %v", n, err)
	}
	assertDeliveredOnce(t, srv, msgs)
	for _, m := range msgs {
		if r := mustRow(t, db, m.To); r.Status != "sent" || r.Attempts != 1 {
			t.Errorf("%s: row = %+v, want sent on its first counted attempt", m.To, r)
		}
	}
	if n := logs.count("takes mail again"); n != 1 {
		t.Errorf("%d lines about the relay coming back, want 1", n)
	}
	if got := metric(t, "rally_mail_relay_up"); got != "rally_mail_relay_up 1" {
		t.Errorf("metrics say %q after the fix, want rally_mail_relay_up 1", got)
	}
}

// A relay that cannot be reached costs no mail an attempt: the worker waits
// 1 s, 2 s, 4 s … up to 5 minutes between tries, and logs each outage once.
func TestWorkerBacksOffWhileRelayUnreachable(t *testing.T) {
	db, _ := mustOpenDB(t)
	addr := freeAddr(t)
	clk := newClock()
	logger, logs := bufferLogger(t)
	w := NewWorker(db, mustSMTPSender(t, addr), WorkerOptions{Logger: logger, Now: clk.Now})
	msgs := testMessages("waiting", 2)
	mustEnqueue(t, db, msgs...)

	waits := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, want := range waits {
		if n, err := w.DeliverDue(context.Background()); err != nil || n != len(msgs) {
			t.Fatalf("try %d: DeliverDue = %d, %v; want %d", i+1, n, err, len(msgs))
		}
		for _, m := range msgs {
			if r := mustRow(t, db, m.To); r.Status != "queued" || r.Attempts != 0 || r.Leased || !containsAll(r.LastError, "connection refused") {
				t.Fatalf("try %d: %s row = %+v, want queued with no attempt counted", i+1, m.To, r)
			}
		}
		if wait, ok := w.relayWait(clk.Now()); !ok || wait != want {
			t.Fatalf("try %d: worker waits %v (%v), want %v", i+1, wait, ok, want)
		}
		clk.Add(want / 2)
		if n, err := w.DeliverDue(context.Background()); err != nil || n != 0 {
			t.Fatalf("try %d, while waiting: DeliverDue = %d, %v; want 0", i+1, n, err)
		}
		clk.Add(want - want/2)
	}
	if n := logs.count("level=ERROR", "unreachable"); n != 1 {
		t.Errorf("%d lines about the outage, want 1", n)
	}

	srv := startSMTPAt(t, addr, smtpOptions{})
	if n, err := w.DeliverDue(context.Background()); err != nil || n != len(msgs) {
		t.Fatalf("relay back: DeliverDue = %d, %v", n, err)
	}
	assertDeliveredOnce(t, srv, msgs)
	for _, m := range msgs {
		if r := mustRow(t, db, m.To); r.Status != "sent" || r.Attempts != 1 {
			t.Errorf("%s: row = %+v, want sent on its first counted attempt", m.To, r)
		}
	}
	if n := logs.count("takes mail again"); n != 1 {
		t.Errorf("%d lines about the relay coming back, want 1", n)
	}

	// A second outage, found on the connection kept open: logged once
	// more, and the waits start again from a second.
	srv.stop()
	mustEnqueue(t, db, testMessage("later@example.org"))
	if n, err := w.DeliverDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("second outage: DeliverDue = %d, %v", n, err)
	}
	if r := mustRow(t, db, "later@example.org"); r.Status != "queued" || r.Attempts != 0 {
		t.Errorf("second outage: row = %+v, want queued with no attempt counted", r)
	}
	if wait, ok := w.relayWait(clk.Now()); !ok || wait != time.Second {
		t.Errorf("second outage: worker waits %v (%v), want 1s", wait, ok)
	}
	if n := logs.count("level=ERROR", "unreachable"); n != 2 {
		t.Errorf("%d lines about outages, want 2", n)
	}
}

// A relay that accepts the connection and then says nothing is unreachable
// too: given up on after the timeout, without costing the mail an attempt.
func TestWorkerStalledRelayCostsNoAttempt(t *testing.T) {
	db, _ := mustOpenDB(t)
	srv := startSMTP(t, smtpOptions{})
	stall := make(chan struct{})
	srv.setBeforeReply(func() { <-stall })
	t.Cleanup(func() { close(stall) })
	s := mustSMTPSender(t, srv.Addr)
	s.timeout = 200 * time.Millisecond
	clk := newClock()
	logger, logs := bufferLogger(t)
	w := NewWorker(db, s, WorkerOptions{Logger: logger, Now: clk.Now})
	mustEnqueue(t, db, testMessage("ada@example.org"))

	if n, err := w.DeliverDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	if r := mustRow(t, db, "ada@example.org"); r.Status != "queued" || r.Attempts != 0 || r.Leased {
		t.Errorf("row = %+v, want queued with no attempt counted", r)
	}
	if _, ok := w.relayWait(clk.Now()); !ok {
		t.Error("the worker does not wait before trying the stalled relay again")
	}
	if n := logs.count("unreachable"); n != 1 {
		t.Errorf("%d lines about the stalled relay, want 1", n)
	}
}

// A recipient's refusal is that message's: a 5xx fails it, a 4xx retries it
// later, the other messages go out on the same connection, and the relay is
// not held to be down. Accepted messages are not followed by RSET.
func TestWorkerRecipientRefusalsAreTheMessages(t *testing.T) {
	db, _ := mustOpenDB(t)
	srv := startSMTP(t, smtpOptions{Reject: rejections})
	clk := newClock()
	logger, logs := bufferLogger(t)
	w := NewWorker(db, mustSMTPSender(t, srv.Addr), WorkerOptions{Logger: logger, Now: clk.Now})
	ok := []Message{testMessage("first@example.org"), testMessage("second@example.org"), testMessage("third@example.org")}
	mustEnqueue(t, db, ok[0], testMessage("later@example.org"), ok[1], testMessage("nobody@example.org"), ok[2])

	if n, err := w.DeliverDue(context.Background()); err != nil || n != 5 {
		t.Fatalf("DeliverDue = %d, %v; want 5", n, err)
	}
	assertDeliveredOnce(t, srv, ok)
	if r := mustRow(t, db, "nobody@example.org"); r.Status != "failed" || r.Attempts != 1 || !containsAll(r.LastError, "550", "No such user") {
		t.Errorf("550: row = %+v, want failed with the reply", r)
	}
	if r := mustRow(t, db, "later@example.org"); r.Status != "queued" || r.Attempts != 1 || !r.NextAt.Equal(clk.Now().Add(time.Minute)) {
		t.Errorf("451: row = %+v, want queued for a retry in a minute", r)
	}
	if _, waiting := w.relayWait(clk.Now()); waiting || logs.count("relay") != 0 {
		t.Error("a recipient's refusal made the worker hold the relay as down")
	}
	if n := srv.connCount(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	// go-mail resets after a refused recipient; an accepted message needs none.
	if n := srv.commandCount("RSET"); n != 2 {
		t.Errorf("%d RSET commands, want 2 (one per refused recipient)", n)
	}
}

// With Conns 4, four connections carry the mail at once, each reused for
// message after message and batch after batch, with no RSET or NOOP.
func TestWorkerSendsOnParallelConnectionsAndReusesThem(t *testing.T) {
	db, _ := mustOpenDB(t)
	srv := startSMTP(t, smtpOptions{})
	s := mustSMTPSender(t, srv.Addr)
	const conns = 4
	w := NewWorker(db, s, WorkerOptions{Logger: testLogger(t), Now: newClock().Now, Conns: conns, Batch: 20})
	msgs := testMessages("many", 40)
	mustEnqueue(t, db, msgs...)

	// The first MAIL FROMs wait until four are in at once.
	var arrived atomic.Int32
	all := make(chan struct{})
	var gaveUp atomic.Bool
	srv.setOnMail(func(int) {
		if arrived.Add(1) == conns {
			close(all)
		}
		if gaveUp.Load() {
			return
		}
		select {
		case <-all:
		case <-time.After(5 * time.Second):
			gaveUp.Store(true)
		}
	})
	for round := 1; round <= 2; round++ {
		if n, err := w.DeliverDue(context.Background()); err != nil || n != 20 {
			t.Fatalf("round %d: DeliverDue = %d, %v; want 20", round, n, err)
		}
	}
	assertDeliveredOnce(t, srv, msgs)
	if gaveUp.Load() {
		t.Errorf("the relay never had %d messages in progress at once", conns)
	}
	if n := srv.connCount(); n != conns {
		t.Errorf("%d connections for two batches, want %d", n, conns)
	}
	if _, most := srv.openSessions(); most != conns {
		t.Errorf("at most %d sessions open at once, want %d", most, conns)
	}
	for _, verb := range []string{"RSET", "NOOP", "QUIT"} {
		if n := srv.commandCount(verb); n != 0 {
			t.Errorf("%d %s commands while sending, want 0", n, verb)
		}
	}
	s.CloseIdle()
	if n := srv.commandCount("QUIT"); n != conns {
		t.Errorf("%d QUIT commands after CloseIdle, want %d", n, conns)
	}
}

// The rate is the worker's, shared by its connections: 20 messages at 10 a
// second take 1.9 s of the clock on four connections as on one.
func TestWorkerSharesRateAcrossConnections(t *testing.T) {
	db, _ := mustOpenDB(t)
	srv := startSMTP(t, smtpOptions{})
	clk := newClock()
	t0 := clk.Now()
	w := NewWorker(db, mustSMTPSender(t, srv.Addr), WorkerOptions{Logger: testLogger(t), Now: clk.Now, Conns: 4, Rate: 10})
	var mu sync.Mutex
	var slots []time.Time
	w.sleep = func(_ context.Context, until time.Time) bool {
		mu.Lock()
		slots = append(slots, until)
		mu.Unlock()
		clk.AdvanceTo(until)
		return true
	}
	msgs := testMessages("paced", 20)
	mustEnqueue(t, db, msgs...)

	if n, err := w.DeliverDue(context.Background()); err != nil || n != 20 {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	assertDeliveredOnce(t, srv, msgs)
	sort.Slice(slots, func(i, j int) bool { return slots[i].Before(slots[j]) })
	for i, s := range slots {
		if want := t0.Add(time.Duration(i) * 100 * time.Millisecond); !s.Equal(want) {
			t.Errorf("message %d sent at +%v, want +%v", i, s.Sub(t0), want.Sub(t0))
		}
	}
	if took := clk.Now().Sub(t0); took != 1900*time.Millisecond {
		t.Errorf("20 messages at 10/s took %v of the clock, want 1.9s", took)
	}
}

// crashAfter stands for a worker process that dies in the middle of a
// batch: it sends n messages, then dies on the next.
type crashAfter struct {
	next Sender
	n    int

	mu   sync.Mutex
	sent int
}

func (c *crashAfter) Send(ctx context.Context, msgs []Message) []error {
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		c.mu.Lock()
		c.sent++
		dead := c.sent > c.n
		c.mu.Unlock()
		if dead {
			panic(crash{})
		}
		errs[i] = c.next.Send(ctx, []Message{m})[0]
	}
	return errs
}

// After a crash mid-batch, only the message in flight can be sent twice:
// the outcomes of those sent before it were recorded as they came.
func TestWorkerCrashMidBatchResendsAtMostInFlight(t *testing.T) {
	db, _ := mustOpenDB(t)
	srv := startSMTP(t, smtpOptions{})
	clk := newClock()
	lease := time.Minute
	a := NewWorker(db, &crashAfter{next: mustSMTPSender(t, srv.Addr), n: 6}, WorkerOptions{Logger: testLogger(t), Now: clk.Now, Lease: lease})
	b := NewWorker(db, mustSMTPSender(t, srv.Addr), WorkerOptions{Logger: testLogger(t), Now: clk.Now, Lease: lease})
	msgs := testMessages("batch", 10)
	mustEnqueue(t, db, msgs...)

	if !deliverAndCrash(t, a) {
		t.Fatal("worker A did not die")
	}
	clk.Add(lease)
	mustDeliverAll(t, b)
	got := map[string]int{}
	total := 0
	for _, r := range srv.received() {
		got[r.To[0]]++
		total++
	}
	for _, m := range msgs {
		if got[m.To] == 0 {
			t.Errorf("%s never delivered", m.To)
		}
		if r := mustRow(t, db, m.To); r.Status != "sent" {
			t.Errorf("%s: status %s, want sent", m.To, r.Status)
		}
	}
	if total > len(msgs)+1 {
		t.Errorf("%d deliveries of %d messages: more than the one in flight was sent twice", total, len(msgs))
	}
}

// Connections stay open across sends; one the relay closed while idle is
// replaced without failing the message; one idle for the idle time is
// closed with QUIT.
func TestSMTPSenderKeepsConnectionsOpenUntilIdle(t *testing.T) {
	srv := startSMTP(t, smtpOptions{IdleTimeout: 300 * time.Millisecond})
	s := mustSMTPSender(t, srv.Addr)
	send := func(to string) {
		t.Helper()
		if err := s.Send(context.Background(), []Message{testMessage(to)})[0]; err != nil {
			t.Fatalf("send to %s: %v", to, err)
		}
	}
	send("a@example.org")
	send("b@example.org")
	if n := srv.connCount(); n != 1 {
		t.Fatalf("%d connections for two sends, want 1", n)
	}

	// The relay drops the idle connection; the next message still goes.
	waitFor(t, "the relay to close the idle connection", func() bool { open, _ := srv.openSessions(); return open == 0 })
	send("c@example.org")
	if n := srv.connCount(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}

	// Idle long enough, the sender closes it itself.
	s.idle = 20 * time.Millisecond
	send("d@example.org")
	waitFor(t, "QUIT on the idle connection", func() bool { return srv.commandCount("QUIT") == 1 })
	if got := len(srv.received()); got != 4 {
		t.Errorf("delivered %d, want 4", got)
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A refused sender, a refused login or a closing relay is not the
// recipient's fault; a recipient's refusal is.
func TestSMTPSenderTellsRelayFromRecipient(t *testing.T) {
	srv := startSMTP(t, smtpOptions{Reject: map[string]*smtp.SMTPError{
		"gone@example.org":    {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
		"closing@example.org": {Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Shutting down"},
	}})
	s := mustSMTPSender(t, srv.Addr)
	errs := s.Send(context.Background(), []Message{testMessage("gone@example.org"), testMessage("closing@example.org")})
	if IsRelayError(errs[0]) || !IsPermanent(errs[0]) {
		t.Errorf("550 at RCPT: err = %v, want the message's permanent failure", errs[0])
	}
	if !IsRelayError(errs[1]) || IsPermanent(errs[1]) {
		t.Errorf("421 at RCPT: err = %v, want a relay error", errs[1])
	}
	srv.refuseSender(&smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Sender address rejected"})
	if err := s.Send(context.Background(), []Message{testMessage("ok@example.org")})[0]; !IsRelayError(err) || IsPermanent(err) {
		t.Errorf("553 at MAIL FROM: err = %v, want a relay error", err)
	}

	authSrv := startSMTP(t, smtpOptions{User: "rally", Pass: "right"})
	bad, err := NewSMTPSender("smtp://rally:wrong@"+authSrv.Addr, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Send(context.Background(), []Message{testMessage("ok@example.org")})[0]; !IsRelayError(err) || IsPermanent(err) {
		t.Errorf("refused login: err = %v, want a relay error", err)
	}

	// STARTTLS required of a relay without it: the relay's too, and the
	// connection is not left open (the relay would keep it until its own
	// timeout, a minute here).
	plain := startSMTP(t, smtpOptions{IdleTimeout: time.Minute})
	strict, err := NewSMTPSender("smtp://"+plain.Addr+"?tls=starttls", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := strict.Send(context.Background(), []Message{testMessage("ok@example.org")})[0]; !IsRelayError(err) || IsPermanent(err) {
		t.Errorf("no STARTTLS: err = %v, want a relay error", err)
	}
	waitFor(t, "the refused connection to close", func() bool { open, _ := plain.openSessions(); return open == 0 })
}

// Failed mail can be queued again, with all its attempts ahead of it, once
// what failed it is fixed; sent mail stays sent.
func TestRetryFailedQueuesFailedMailAgain(t *testing.T) {
	db, _ := mustOpenDB(t)
	srv := startSMTP(t, smtpOptions{Reject: rejections})
	clk := newClock()
	w := NewWorker(db, mustSMTPSender(t, srv.Addr), WorkerOptions{Logger: testLogger(t), Now: clk.Now})
	mustEnqueue(t, db, testMessage("nobody@example.org"), testMessage("ok@example.org"))
	mustDeliverAll(t, w)
	if r := mustRow(t, db, "nobody@example.org"); r.Status != "failed" {
		t.Fatalf("row = %+v, want failed", r)
	}

	clk.Add(time.Hour)
	n, err := RetryFailed(context.Background(), db, clk.Now())
	if err != nil || n != 1 {
		t.Fatalf("RetryFailed = %d, %v; want 1", n, err)
	}
	if r := mustRow(t, db, "nobody@example.org"); r.Status != "queued" || r.Attempts != 0 || !r.NextAt.Equal(clk.Now()) {
		t.Errorf("retried row = %+v, want queued now with no attempt counted", r)
	}
	if r := mustRow(t, db, "ok@example.org"); r.Status != "sent" {
		t.Errorf("sent row = %+v, want it left sent", r)
	}
	if n, err := w.DeliverDue(context.Background()); err != nil || n != 1 {
		t.Errorf("DeliverDue after the retry = %d, %v; want the one message", n, err)
	}
}

// After the relay restarts, every idle connection is dead: the next message
// goes out on a new connection, not on another dead one.
func TestSMTPSenderReplacesConnectionsOfARestartedRelay(t *testing.T) {
	srv := startSMTP(t, smtpOptions{})
	s := mustSMTPSender(t, srv.Addr)
	// Two sends at once leave two idle connections.
	both := make(chan struct{})
	var arrived atomic.Int32
	srv.setOnMail(func(int) {
		if arrived.Add(1) == 2 {
			close(both)
		}
		select {
		case <-both:
		case <-time.After(5 * time.Second):
		}
	})
	var wg sync.WaitGroup
	for _, to := range []string{"a@example.org", "b@example.org"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Send(context.Background(), []Message{testMessage(to)})[0]; err != nil {
				t.Errorf("send to %s: %v", to, err)
			}
		}()
	}
	wg.Wait()
	if n := srv.connCount(); n != 2 {
		t.Fatalf("%d connections, want 2 idle ones", n)
	}

	srv.stop()
	again := startSMTPAt(t, srv.Addr, smtpOptions{})
	if err := s.Send(context.Background(), []Message{testMessage("c@example.org")})[0]; err != nil {
		t.Fatalf("send after the restart: %v", err)
	}
	if got := again.received(); len(got) != 1 {
		t.Errorf("the restarted relay got %d messages, want 1", len(got))
	}
}
