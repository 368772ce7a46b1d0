package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Pausing takes the blast's messages not yet claimed back out of the
// outbox: nothing more goes until it resumes, and then everyone gets it
// once.
func TestPauseAndResume(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{window: 6})
	addrs := e.people(20)
	e.worker.opts.Batch = 2
	path := e.draft(nil)
	e.send(path)
	ctx := context.Background()
	if _, err := e.blasts.Step(ctx); err != nil { // fan-out and the first window
		t.Fatal(err)
	}
	if _, err := e.worker.DeliverDue(ctx); err != nil { // two of the six go
		t.Fatal(err)
	}
	if r := e.do("POST", path+"/pause", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("pause: status %d", r.status)
	}
	var inOutbox int
	if err := e.r.QueryRow(`SELECT count(*) FROM outbox WHERE template = 'blast' AND status = 'queued'`).Scan(&inOutbox); err != nil || inOutbox != 0 {
		t.Errorf("after the pause the outbox holds %d of the blast's messages, %v; want 0", inOutbox, err)
	}
	e.clock.Add(time.Hour)
	e.run()
	if got := len(e.smtp.received()); got != 2 {
		t.Fatalf("%d messages went out; want the 2 sent before the pause", got)
	}
	if j := e.stats(path); j.Status != BlastPaused || j.Sent != 2 || j.Queued != 18 {
		t.Fatalf("paused: %+v", j)
	}
	// Pausing again is not possible: 409 with the page.
	if r := e.do("POST", path+"/pause", url.Values{}); r.status != http.StatusConflict {
		t.Errorf("pausing a paused blast: status %d, want 409", r.status)
	}
	if r := e.do("POST", path+"/resume", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("resume: status %d", r.status)
	}
	e.run()
	got := map[string]int{}
	for _, m := range e.smtp.received() {
		got[m.To[0]]++
	}
	for _, a := range addrs {
		if got[a] != 1 {
			t.Errorf("%s received %d messages, want 1", a, got[a])
		}
	}
	if j := e.stats(path); j.Status != BlastSent || j.Sent != 20 {
		t.Errorf("after resuming: %+v; want 20 sent, status sent", j)
	}
}

// While a blast sends, its page reloads itself every few seconds when
// JavaScript is off (blast.js follows the JSON otherwise); once sent it
// stays still.
func TestSendingPageReloadsWithoutJavaScript(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	e.people(3)
	path := e.draft(nil)
	const refresh = `<noscript><meta http-equiv="refresh" content="15"></noscript>`
	if body := e.do("GET", path, nil).body; strings.Contains(body, refresh) {
		t.Errorf("a draft's page reloads itself")
	}
	e.send(path)
	if body := e.do("GET", path, nil).body; !strings.Contains(body, refresh) {
		t.Errorf("the page of a blast sending does not reload itself without JavaScript")
	}
	e.run()
	if body := e.do("GET", path, nil).body; strings.Contains(body, refresh) {
		t.Errorf("a sent blast's page still reloads itself")
	}
}

// Cancelling stops what was not sent, for good.
func TestCancel(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{window: 3})
	e.people(10)
	path := e.draft(nil)
	e.send(path)
	if _, err := e.blasts.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", path+"/cancel", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("cancel: status %d", r.status)
	}
	e.run()
	if n := len(e.smtp.received()); n != 0 {
		t.Errorf("%d messages went after the cancel", n)
	}
	if s := e.deliveryStates(); s[deliveryCancelled] != 10 {
		t.Errorf("deliveries %v, want 10 cancelled", s)
	}
	if r := e.do("POST", path+"/resume", url.Values{}); r.status != http.StatusConflict {
		t.Errorf("resuming a cancelled blast: status %d, want 409", r.status)
	}
}

// Bulk mail never delays transactional mail: a confirmation queued behind
// a blast's window goes in the worker's next round, ahead of it.
func TestTransactionalMailGoesBeforeBlasts(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{window: 10})
	e.people(10)
	e.worker.opts.Batch = 3
	e.worker.opts.Conns = 1
	e.send(e.draft(nil))
	if _, err := e.blasts.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, e.w, testMessage("signer@example.org"))
	if _, err := e.worker.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := e.smtp.received()
	if len(got) == 0 || got[0].To[0] != "signer@example.org" {
		t.Errorf("first message went to %v, want the confirmation", got)
	}
}

// A blast sent for later goes at that time in the zone it was typed in;
// a time gone, or a zone that does not exist, is refused with the page.
func TestScheduledBlast(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	e.people(2)
	path := e.draft(nil)
	paris, _ := time.LoadLocation("Europe/Paris")
	at := e.clock.Now().In(paris).Add(2 * time.Hour).Truncate(time.Minute)
	for name, form := range map[string]url.Values{
		"past":         {"send_at": {e.clock.Now().In(paris).Add(-time.Hour).Format(sendTimeLayout)}, "tz": {"Europe/Paris"}},
		"unknown zone": {"send_at": {at.Format(sendTimeLayout)}, "tz": {"Mars/Olympus"}},
		"not a time":   {"send_at": {"tomorrow"}, "tz": {"UTC"}},
	} {
		r := e.do("POST", path+"/send", form)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `role="alert"`) {
			t.Errorf("%s: status %d, want 422 with the problem on the page", name, r.status)
		}
		if !strings.Contains(r.body, `value="`+form.Get("send_at")+`"`) {
			t.Errorf("%s: the page lost the time typed", name)
		}
	}
	r := e.do("POST", path+"/send", url.Values{"send_at": {at.Format(sendTimeLayout)}, "tz": {"Europe/Paris"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("schedule: status %d\n%s", r.status, r.body)
	}
	b, err := findBlast(context.Background(), e.r, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != BlastScheduled || b.SendAt == nil || !b.SendAt.Equal(at.UTC()) || b.SendAt.Location() != time.UTC {
		t.Fatalf("scheduled blast: status %s, send_at %v; want scheduled at %v UTC", b.Status, b.SendAt, at.UTC())
	}
	e.run()
	if n := len(e.smtp.received()); n != 0 {
		t.Fatalf("%d messages went before the time", n)
	}
	e.clock.Set(at.Add(time.Minute))
	e.run()
	if n := len(e.smtp.received()); n != 2 {
		t.Errorf("%d messages went at the time, want 2", n)
	}
}

// The send form offers the zone the organiser last scheduled in, and a
// time sent with no zone is read in it; before any, the page offers UTC and
// lets the browser put in its own.
func TestScheduleInTheOrganisersZone(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	e.people(2)
	first := e.draft(nil)
	if body := e.do("GET", first, nil).body; !strings.Contains(body, `value="UTC" data-guess`) {
		t.Errorf("with no zone known the form does not offer UTC for the browser to replace:\n%s", body)
	}
	nairobi, _ := time.LoadLocation("Africa/Nairobi")
	at := e.clock.Now().In(nairobi).Add(3 * time.Hour).Truncate(time.Minute)
	if r := e.do("POST", first+"/send", url.Values{"send_at": {at.Format(sendTimeLayout)}, "tz": {"Africa/Nairobi"}}); r.status != http.StatusSeeOther {
		t.Fatalf("schedule: status %d", r.status)
	}
	second := e.draft(nil)
	body := e.do("GET", second, nil).body
	if !strings.Contains(body, `name="tz" value="Africa/Nairobi" list=`) {
		t.Errorf("the next blast's form does not offer the organiser's zone:\n%s", body)
	}
	if r := e.do("POST", second+"/send", url.Values{"send_at": {at.Format(sendTimeLayout)}}); r.status != http.StatusSeeOther {
		t.Fatalf("schedule with no zone: status %d\n%s", r.status, r.body)
	}
	b, err := findBlast(context.Background(), e.r, 2)
	if err != nil {
		t.Fatal(err)
	}
	if b.SendAt == nil || !b.SendAt.Equal(at.UTC()) || b.TZ != "Africa/Nairobi" {
		t.Errorf("scheduled with no zone: send_at %v in %q; want %v, in Africa/Nairobi", b.SendAt, b.TZ, at.UTC())
	}
}

// An organiser whose address is not confirmed may write a draft but not
// send it, nor a test: 403 with the page saying to confirm first. An admin
// may, confirmed or not.
func TestOnlyAConfirmedOrganiserSends(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	e.people(2)
	e.org.Confirmed = false
	path := e.draft(nil)
	if body := e.do("GET", path, nil).body; !strings.Contains(body, "Confirm your email address first") || strings.Contains(body, `action="`+path+`/send"`) {
		t.Errorf("an unconfirmed organiser's draft offers to send, or does not say why not")
	}
	for _, action := range []string{"/send", "/test"} {
		if r := e.do("POST", path+action, url.Values{}); r.status != http.StatusForbidden || !strings.Contains(r.body, "Confirm your email address first") {
			t.Errorf("POST %s by an unconfirmed organiser: status %d, want 403 saying to confirm first", action, r.status)
		}
	}
	e.run()
	if n := len(e.smtp.received()); n != 0 || e.stats(path).Status != BlastDraft {
		t.Fatalf("%d mails went, status %s; want none, a draft", n, e.stats(path).Status)
	}
	e.org.Admin = true
	e.send(path)
	e.run()
	if n := len(e.smtp.received()); n != 2 {
		t.Errorf("an admin's send: %d mails, want 2", n)
	}
}

// A draft with a tag Rally does not know, or a button leading nowhere
// valid, comes back with 422, the errors by their fields and what was
// typed; nothing is saved.
func TestBlastFormErrors(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	form := url.Values{"subject": {"Hello {firstname}"}, "body": {"Hi <b>there</b>"}, "cta_label": {"Act"},
		"cta_url": {"javascript:alert(1)"}, "body_fr": {"Bonjour"}}
	r := e.do("POST", "/campaigns/clean-air/blasts", form)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", r.status)
	}
	for _, want := range []string{`id="subject-error"`, "{firstname} is not a tag", `id="cta_url-error"`, `id="subject_fr-error"`,
		`value="Hello {firstname}"`, "Hi &lt;b&gt;there&lt;/b&gt;", `value="javascript:alert(1)"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the form back lacks %q", want)
		}
	}
	var n int
	if err := e.r.QueryRow(`SELECT count(*) FROM blasts`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d blasts saved, %v", n, err)
	}
}

// An organiser's blasts reach at most the daily cap of recipients; an
// admin can raise it, and then the blast goes.
func TestDailyCap(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{cap: 2})
	e.people(3)
	path := e.draft(nil)
	r := e.do("POST", path+"/send", url.Values{})
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "your limit is 2 a day") {
		t.Fatalf("over the cap: status %d, want 422 saying the limit", r.status)
	}
	if s := e.stats(path).Status; s != BlastDraft {
		t.Fatalf("status %s after a refused send", s)
	}
	if r := e.do("POST", "/admin/organisers/3/blast-cap", url.Values{"daily_cap": {"many"}, "slug": {"clean-air"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("a cap that is no number: status %d, want 422", r.status)
	}
	if r := e.do("POST", "/admin/organisers/3/blast-cap", url.Values{"daily_cap": {"1,000"}, "slug": {"clean-air"}}); r.status != http.StatusSeeOther {
		t.Fatalf("raise the cap: status %d", r.status)
	}
	e.send(path)
	e.run()
	if n := len(e.smtp.received()); n != 3 {
		t.Errorf("%d sent, want 3", n)
	}
	if r := e.do("GET", "/campaigns/clean-air/blasts", nil); !strings.Contains(r.body, "1,000") || !strings.Contains(r.body, ">3<") {
		t.Errorf("the blasts page does not show the limit and the use")
	}
}

// "Send a test to me" mails the organiser each version now, marked as a
// test; its links lead where they should and count nothing.
func TestSendATestToMe(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	e.people(1)
	path := e.draft(url.Values{"subject_fr": {"Bonjour {first_name|ami}"}, "body_fr": {"Le conseil se réunit."}})
	r := e.do("POST", path+"/test", url.Values{})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != path {
		t.Fatalf("test: status %d, Location %q", r.status, r.header.Get("Location"))
	}
	// The blast's page says, once, where the test went.
	req := httptest.NewRequest("GET", path, nil)
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	e.engine.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "A test is on its way to your address.") {
		t.Errorf("the page after a test does not say it is on its way:\n%s", rec.Body.String())
	}
	e.run()
	ms := e.mails("olive@example.org")
	if len(ms) != 2 {
		t.Fatalf("the organiser got %d mails, want 2 (English and French)", len(ms))
	}
	subjects := []string{}
	for _, m := range ms {
		s := decodeHeader(m.header.Get("Subject"))
		subjects = append(subjects, s)
	}
	sort.Strings(subjects)
	if subjects[0] != "[Test] Bonjour Olive" || subjects[1] != "[Test] Hello Olive" {
		t.Errorf("subjects %q", subjects)
	}
	if n := len(e.mails("person0@example.org")); n != 0 {
		t.Errorf("a test went to a supporter")
	}
	link := trackedLink.FindString(ms[0].text)
	r = e.do("GET", strings.TrimPrefix(link, testBase), nil)
	if r.status != http.StatusFound {
		t.Errorf("a test's link: status %d", r.status)
	}
	if j := e.stats(path); j.Clicks != 0 || j.Status != BlastDraft {
		t.Errorf("after a test: %+v", j)
	}
	r = e.do("POST", strings.TrimPrefix(unsubLink.FindString(ms[0].text), testBase), url.Values{"List-Unsubscribe": {"One-Click"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "unsubscribes nobody") {
		t.Errorf("a test's unsubscribe link: status %d", r.status)
	}
}

// A restarted server goes on with a blast where it stopped: the fan-out
// from its position, the deliveries already in the outbox as they are;
// everyone gets it once.
func TestBlastResumesAfterRestart(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{window: 700})
	addrs := e.people(1300)
	path := e.draft(nil)
	e.send(path)
	ctx := context.Background()
	// One page of the fan-out and a first feed, a round of sending, then
	// the process is gone.
	if _, err := e.blasts.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.worker.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := findBlast(ctx, e.r, 1)
	if b.AudienceDone || b.AudiencePos == 0 {
		t.Fatalf("the fan-out is done or not started (%v, %d): the test needs it half-way", b.AudienceDone, b.AudiencePos)
	}
	// A new process on the same database.
	e.blasts = NewBlasts(e.w, e.r, e.blasts.rdr, e.aud, e.blasts.cfg)
	e.worker = NewWorker(e.w, e.worker.sender, WorkerOptions{Conns: 2, Now: e.clock.Now, Logger: testLogger(t),
		Renderer: e.worker.opts.Renderer, Blasts: e.blasts})
	e.run()
	got := map[string]int{}
	for _, m := range e.smtp.received() {
		got[m.To[0]]++
	}
	for _, a := range addrs {
		if got[a] != 1 {
			t.Fatalf("%s received %d messages, want 1", a, got[a])
		}
	}
	if j := e.stats(path); j.Sent != 1300 || j.Recipients != 1300 || j.Status != BlastSent {
		t.Errorf("%+v", j)
	}
}

// The blast's JSON has exactly the contract's keys.
func TestBlastJSONKeys(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	e.people(1)
	path := e.draft(nil)
	r := e.do("GET", path+".json", nil)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"bounced", "clicks", "failed", "human_clicks", "id", "queued", "recipients", "sent", "status", "suppressed",
		"unique_clickers", "unsubscribes"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if r := e.do("GET", "/campaigns/clean-air/blasts/99.json", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown blast's JSON: status %d", r.status)
	}
}

// The blasts page says whether the sender's domain publishes SPF, DKIM and
// DMARC, looked up in the background; "unknown" when DNS cannot say.
func TestSenderDNSCheck(t *testing.T) {
	res := stubResolver{"example.org": {"v=spf1 include:_spf.example.net ~all"}, "_dmarc.example.org": nil}
	e := newBlastEnv(t, blastEnvOptions{res: res})
	first := e.do("GET", "/campaigns/clean-air/blasts", nil)
	if !strings.Contains(first.body, "checking") {
		t.Errorf("the first look does not say it is checking")
	}
	e.blasts.dns.wait()
	r := e.do("GET", "/campaigns/clean-air/blasts", nil)
	for _, want := range []string{"SPF</dt><dd><span class=\"check-ok\">", "DKIM</dt><dd><span class=\"check-bad\">✗ not signed",
		"DMARC</dt><dd><span class=\"muted\">unknown"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// While confirmations wait to go out, a sending blast's page and JSON say
// its mail waits behind them; they go first, and then the blast goes on.
func TestBlastWaitsBehindConfirmations(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{window: 6})
	addrs := e.people(5)
	// Batches of ten: a batch is claimed by priority, and its messages
	// may leave in any order over the worker's connections.
	e.worker.opts.Batch = 10
	path := e.draft(nil)
	e.send(path)
	ctx := context.Background()
	if _, err := e.blasts.Step(ctx); err != nil {
		t.Fatal(err)
	}
	tx, err := e.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range waitingShown {
		if err := Enqueue(ctx, tx, Message{To: fmt.Sprintf("signer%d@example.org", i), Subject: "Confirm", Text: "Confirm",
			Priority: Transactional, Kind: "signature_confirm"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	page := e.do("GET", path, nil)
	if !strings.Contains(page.body, fmt.Sprintf("%d confirmation and account emails are waiting to go out", waitingShown)) {
		t.Errorf("the sending blast's page does not say its mail waits behind the confirmations")
	}
	e.run()
	sent := e.smtp.received()
	if len(sent) != waitingShown+len(addrs) {
		t.Fatalf("%d messages went out, want %d", len(sent), waitingShown+len(addrs))
	}
	for i, m := range sent[:waitingShown] {
		if !strings.HasPrefix(m.To[0], "signer") {
			t.Fatalf("message %d went to %s before the confirmations were out", i+1, m.To[0])
		}
	}
	page = e.do("GET", path, nil)
	if strings.Contains(page.body, "waiting to go out") {
		t.Errorf("the sent blast's page still says its mail waits")
	}
}
