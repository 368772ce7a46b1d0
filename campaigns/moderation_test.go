package campaigns

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// modEnv is a siteEnv with an admin signed in and a published cause, and
// helpers to sign from a given client address.
type modEnv struct {
	*siteEnv
	admin *http.Cookie
	slug  string
}

func newModEnv(t *testing.T) *modEnv {
	t.Helper()
	env := &modEnv{siteEnv: newSiteEnv(t)}
	env.slug = env.publishedCause()
	_, env.admin = env.organiser("admin@example.org", true, true)
	return env
}

// signFrom signs the cause as a browser at ip would, and returns the status.
func (env *modEnv) signFrom(ip, name, email string) int {
	env.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/c/"+env.slug+"/sign", strings.NewReader(signValues(name, email).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = ip + ":40000"
	return env.serve(req, nil).Code
}

// confirm presses the button of the latest confirmation mail to email.
func (env *modEnv) confirm(email string) {
	env.t.Helper()
	var data string
	if err := env.w.QueryRow(`SELECT data FROM outbox WHERE to_addr = ? AND kind = 'signature_confirm' ORDER BY id DESC LIMIT 1`, email).Scan(&data); err != nil {
		env.t.Fatalf("no confirmation mail to %s: %v", email, err)
	}
	m := outboxToken.FindStringSubmatch(data)
	if m == nil {
		env.t.Fatalf("no link in %s", data)
	}
	if rec := env.post("/confirm/"+m[1], nil, nil); rec.Code != http.StatusOK {
		env.t.Fatalf("confirm %s: status %d", email, rec.Code)
	}
}

// publicCount is the count the cause's public JSON shows.
func (env *modEnv) publicCount() int64 {
	env.t.Helper()
	rec := env.get("/c/"+env.slug+".json", nil)
	var j struct {
		Count int64 `json:"signature_count"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &j) != nil {
		env.t.Fatalf("JSON: status %d, %s", rec.Code, rec.Body)
	}
	return j.Count
}

// breakdownTotals is the cause's signatures summed by country and by day:
// what its charts show, which must agree with its count.
func (env *modEnv) breakdownTotals() (byCountry, byDay int) {
	env.t.Helper()
	id := env.cause(env.slug).ID
	byCountry = env.count(`SELECT coalesce(sum(signatures), 0) FROM cause_countries WHERE cause_id = ` + itoa(id))
	byDay = env.count(`SELECT coalesce(sum(signatures), 0) FROM cause_days WHERE cause_id = ` + itoa(id))
	return byCountry, byDay
}

// TestHeldSignaturesCountOnlyOnceReleased: past the limit of one network's
// signings of a cause in an hour, signings are written and mailed as any
// other, and their signers see the same page, but they count only once an
// admin releases them; the public count moves at once then.
func TestHeldSignaturesCountOnlyOnceReleased(t *testing.T) {
	env := newModEnv(t)
	env.store.SetHoldLimits(HoldLimits{PerNetwork: 2})
	emails := []string{"a@example.org", "b@example.org", "c@example.org", "d@example.org"}
	for i, e := range emails {
		// One /24: 203.0.113.1 to .4.
		if code := env.signFrom("203.0.113."+string(rune('1'+i)), "Signer", e); code != http.StatusOK {
			t.Fatalf("sign %s: status %d", e, code)
		}
	}
	if code := env.signFrom("198.51.100.7", "Other", "e@example.org"); code != http.StatusOK {
		t.Fatal(code)
	}
	for _, e := range append(emails, "e@example.org") {
		env.confirm(e) // every signer got their mail, held or not
	}
	if got := env.publicCount(); got != 3 {
		t.Fatalf("public count = %d, want 3: the two held signatures do not count", got)
	}
	if c, d := env.breakdownTotals(); c != 3 || d != 3 {
		t.Errorf("breakdowns by country and day sum to %d and %d, want 3: held signatures are not shown", c, d)
	}
	st, err := env.store.Stats(context.Background(), env.cause(env.slug).ID)
	if err != nil || st.Confirmed != 3 || st.Held != 2 || st.Pending != 0 {
		t.Errorf("stats = %+v, %v; want 3 counted, 2 held, none pending", st, err)
	}
	if n := env.count(`SELECT count(*) FROM signatures WHERE network = '203.0.113.0/24'`); n != 4 {
		t.Errorf("%d signatures keep the network 203.0.113.0/24, want 4 (the /24, never the address)", n)
	}
	if n := env.count(`SELECT count(*) FROM signatures WHERE network LIKE '%.1' OR network LIKE '%.2'`); n != 0 {
		t.Errorf("%d signatures keep a whole address", n)
	}
	// The admin sees them, grouped by network, and releases them.
	page := env.get("/admin/causes/"+env.slug, env.admin)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "203.0.113.0/24") {
		t.Fatalf("admin cause page: status %d, or the held network is not shown", page.Code)
	}
	rec := env.post("/admin/causes/"+env.slug+"/release", url.Values{"network": {"203.0.113.0/24"}}, env.admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("release: status %d", rec.Code)
	}
	if got := env.publicCount(); got != 5 {
		t.Errorf("public count after release = %d, want 5", got)
	}
	if c, d := env.breakdownTotals(); c != 5 || d != 5 {
		t.Errorf("after release, breakdowns sum to %d and %d, want 5", c, d)
	}
	if n := env.count(`SELECT count(*) FROM moderation_log l JOIN organisers o ON o.id = l.admin_id
		WHERE l.action = 'release' AND o.email = 'admin@example.org' AND l.detail LIKE 'released 2%'`); n != 1 {
		t.Errorf("the release is logged %d times with who did it, want once", n)
	}
}

// TestHoldByDomainAndTrust: the per-domain limit holds a burst of one
// domain's addresses but never a large mailbox provider's; trusting a
// network releases its held signings and holds none of it again.
func TestHoldByDomainAndTrust(t *testing.T) {
	env := newModEnv(t)
	env.store.SetHoldLimits(HoldLimits{PerNetwork: 1, PerDomain: 2})
	// Each from a network of its own: only the domain counts.
	for i, e := range []string{"a@bots.example", "b@bots.example", "c@bots.example", "x@gmail.com", "y@gmail.com", "z@gmail.com"} {
		if code := env.signFrom("192.0."+string(rune('0'+i))+".9", "Signer", e); code != http.StatusOK {
			t.Fatal(code)
		}
	}
	if n := env.count(`SELECT count(*) FROM signatures WHERE held = 1`); n != 1 {
		t.Errorf("%d held, want 1: the third bots.example signing, none of gmail.com's", n)
	}
	// A network over its limit of 1, then trusted.
	env.signFrom("198.51.100.1", "N1", "n1@example.org")
	env.signFrom("198.51.100.2", "N2", "n2@example.org")
	if n := env.count(`SELECT count(*) FROM signatures WHERE held = 1 AND network = '198.51.100.0/24'`); n != 1 {
		t.Fatalf("%d held from 198.51.100.0/24, want 1", n)
	}
	rec := env.post("/admin/causes/"+env.slug+"/release", url.Values{"network": {"198.51.100.0/24"}, "trust": {"1"}}, env.admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("trust: status %d", rec.Code)
	}
	env.signFrom("198.51.100.3", "N3", "n3@example.org")
	if n := env.count(`SELECT count(*) FROM signatures WHERE held = 1 AND network = '198.51.100.0/24'`); n != 0 {
		t.Errorf("%d held from a trusted network, want none", n)
	}
}

// TestBulkInvalidationRecountsAndUndoes: an admin takes a network's
// signatures out of a cause's count; the public count drops at once, the
// organiser's list and export leave them out, and undoing puts them back.
func TestBulkInvalidationRecountsAndUndoes(t *testing.T) {
	env := newModEnv(t)
	for i, e := range []string{"bot1@spam.example", "bot2@spam.example", "bot3@spam.example"} {
		env.signFrom("203.0.113."+string(rune('1'+i)), "Bot", e)
		env.confirm(e)
	}
	env.signFrom("198.51.100.9", "Real Person", "real@example.org")
	env.confirm("real@example.org")
	if got := env.publicCount(); got != 4 {
		t.Fatalf("count = %d, want 4", got)
	}
	// The admin sees the burst.
	if page := env.get("/admin", env.admin).Body.String(); !strings.Contains(page, "Admin") && !strings.Contains(page, "Moderation") {
		t.Errorf("the admin page does not open")
	}

	rec := env.post("/admin/causes/"+env.slug+"/invalidate", url.Values{"network": {"203.0.113.77"}, "reason": {"a bot farm"}}, env.admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("invalidate: status %d\n%s", rec.Code, rec.Body)
	}
	if got := env.publicCount(); got != 1 {
		t.Errorf("count after invalidating the network = %d, want 1", got)
	}
	cz := env.cause(env.slug)
	rows, _ := env.store.ListConfirmedSignatures(context.Background(), cz.ID, 0, 10)
	if len(rows) != 1 || rows[0].Email != "real@example.org" {
		t.Errorf("the organiser's list = %+v, want only the real signer", rows)
	}
	var id int64
	if err := env.w.QueryRow(`SELECT id FROM invalidations WHERE cause_id = ? AND signatures = 3`, cz.ID).Scan(&id); err != nil {
		t.Fatalf("the invalidation is not recorded with its 3 signatures: %v", err)
	}
	rec = env.post("/admin/causes/"+env.slug+"/undo", url.Values{"invalidation": {itoa(id)}}, env.admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("undo: status %d", rec.Code)
	}
	if got := env.publicCount(); got != 4 {
		t.Errorf("count after undoing = %d, want 4", got)
	}
	// By domain and time range too; the signatures of other domains stay.
	since := env.now.Add(-time.Hour).Format(adminTimeFormat)
	rec = env.post("/admin/causes/"+env.slug+"/invalidate", url.Values{"domain": {"@Spam.example"}, "since": {since}}, env.admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("invalidate by domain: status %d\n%s", rec.Code, rec.Body)
	}
	if got := env.publicCount(); got != 1 {
		t.Errorf("count after invalidating the domain = %d, want 1", got)
	}
	if c, d := env.breakdownTotals(); c != 1 || d != 1 {
		t.Errorf("after invalidating, breakdowns sum to %d and %d, want 1", c, d)
	}
	// A time range that ended before anyone signed takes out nothing.
	rec = env.post("/admin/causes/"+env.slug+"/invalidate", url.Values{"until": {"2001-01-01T00:00"}}, env.admin)
	if rec.Code != http.StatusSeeOther || env.publicCount() != 1 {
		t.Errorf("an old range: status %d, count %d; want 303 and 1", rec.Code, env.publicCount())
	}
	if n := env.count(`SELECT count(*) FROM moderation_log WHERE action IN ('invalidate', 'undo_invalidation')`); n != 4 {
		t.Errorf("%d invalidations and undos logged, want 4", n)
	}
}

// TestInvalidationFormErrors: a form with nothing to go by, or a bad
// network, comes back with 422, what is wrong, and what was typed; nothing
// changes.
func TestInvalidationFormErrors(t *testing.T) {
	env := newModEnv(t)
	for _, tt := range []struct {
		name string
		form url.Values
		want string
	}{
		{"nothing", url.Values{}, "Give a network, a domain or a time range."},
		{"bad network", url.Values{"network": {"not-a-net"}}, "Type a network or an address"},
		{"backwards range", url.Values{"since": {"2026-11-25T10:00"}, "until": {"2026-11-25T09:00"}}, "The end must come after the start."},
		{"bad time", url.Values{"since": {"yesterday"}}, "Type a date and time"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := env.post("/admin/causes/"+env.slug+"/invalidate", tt.form, env.admin)
			if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("status %d, want 422 saying %q", rec.Code, tt.want)
			}
			for _, v := range tt.form {
				if !strings.Contains(rec.Body.String(), v[0]) {
					t.Errorf("the form lost %q", v[0])
				}
			}
		})
	}
	if n := env.count(`SELECT count(*) FROM invalidations`); n != 0 {
		t.Errorf("%d invalidations written from bad forms", n)
	}
}

// TestHiddenCause: an admin hides a cause with a reason; the public gets
// 404 for its page, JSON, signing and reporting and the home page leaves it
// out; its organiser still sees it, with the reason; showing it again
// brings it back.
func TestHiddenCause(t *testing.T) {
	env := newModEnv(t)
	// publishedCause's organiser signs in.
	owner := acctSessionCookie(env.post("/login", url.Values{"email": {"org@example.org"}, "password": {"correct horse battery"}}, nil))
	if owner == nil {
		t.Fatal("the organiser could not sign in")
	}
	if rec := env.get("/c/"+env.slug, nil); rec.Code != http.StatusOK {
		t.Fatalf("before: %d", rec.Code)
	}
	env.get("/", nil) // cached with the cause in it

	rec := env.post("/admin/causes/"+env.slug+"/hide", url.Values{"reason": {""}}, env.admin)
	if rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("hiding without a reason: status %d, want 422", rec.Code)
	}
	rec = env.post("/admin/causes/"+env.slug+"/hide", url.Values{"reason": {"It names a private person."}}, env.admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("hide: status %d", rec.Code)
	}
	for _, path := range []string{"/c/" + env.slug, "/c/" + env.slug + ".json", "/c/" + env.slug + "/report"} {
		if rec := env.get(path, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s by the public: status %d, want 404", path, rec.Code)
		}
	}
	if rec := env.post("/c/"+env.slug+"/sign", signValues("Ada", "ada@example.org"), nil); rec.Code != http.StatusNotFound {
		t.Errorf("signing a hidden cause: status %d, want 404", rec.Code)
	}
	if strings.Contains(env.get("/", nil).Body.String(), "/c/"+env.slug) {
		t.Errorf("the home page still lists the hidden cause")
	}
	for _, path := range []string{"/c/" + env.slug, "/campaigns/" + env.slug} {
		rec := env.get(path, owner)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "It names a private person.") {
			t.Errorf("GET %s by its organiser: status %d, or the reason is not shown", path, rec.Code)
		}
	}
	rec = env.post("/admin/causes/"+env.slug+"/show", nil, env.admin)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("show: status %d", rec.Code)
	}
	if rec := env.get("/c/"+env.slug, nil); rec.Code != http.StatusOK {
		t.Errorf("shown again: status %d, want 200", rec.Code)
	}
	if n := env.count(`SELECT count(*) FROM moderation_log WHERE action IN ('hide_cause', 'show_cause') AND admin_id IS NOT NULL AND created_at IS NOT NULL`); n != 2 {
		t.Errorf("%d hide and show acts logged, want 2", n)
	}
}

// TestReportThisCause: the report form is on the cause page as everyone
// gets it, the same for everyone; a report with no reason comes back with
// 422 and what was typed; a good one gets a thank-you page and waits in
// the admins' queue, where dismissing it is logged.
func TestReportThisCause(t *testing.T) {
	env := newModEnv(t)
	page := env.get("/c/"+env.slug, nil).Body.String()
	if !strings.Contains(page, `action="/c/`+env.slug+`/report"`) || !strings.Contains(page, `name="reason"`) {
		t.Fatalf("the cause page has no report form")
	}
	rec := env.post("/c/"+env.slug+"/report", url.Values{"reason": {"  "}, "email": {"me@example.org"}}, nil)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `value="me@example.org"`) ||
		!strings.Contains(rec.Body.String(), "Please say what is wrong") {
		t.Errorf("empty reason: status %d, want 422 with the address kept and the problem said", rec.Code)
	}
	rec = env.post("/c/"+env.slug+"/report", url.Values{"reason": {"Hate speech"}, "email": {"not an address"}}, nil)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "Hate speech") {
		t.Errorf("bad address: status %d, want 422 with the reason kept", rec.Code)
	}
	if n := env.count(`SELECT count(*) FROM cause_reports`); n != 0 {
		t.Fatalf("%d reports kept from bad forms", n)
	}
	rec = env.post("/c/"+env.slug+"/report", url.Values{"reason": {"Hate speech in the body"}}, nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Thank you for your report") {
		t.Fatalf("report: status %d, want the thank-you page", rec.Code)
	}
	queue := env.get("/admin", env.admin).Body.String()
	if !strings.Contains(queue, "Hate speech in the body") {
		t.Fatalf("the admins' queue does not show the report")
	}
	var id int64
	if err := env.w.QueryRow(`SELECT id FROM cause_reports`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if rec := env.post("/admin/reports/dismiss", url.Values{"report": {itoa(id)}}, env.admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("dismiss: status %d", rec.Code)
	}
	if strings.Contains(env.get("/admin", env.admin).Body.String(), "Hate speech in the body</td>") {
		t.Errorf("a dismissed report is still in the queue")
	}
	if n := env.count(`SELECT count(*) FROM moderation_log WHERE action = 'dismiss_report'`); n != 1 {
		t.Errorf("the dismissal is logged %d times, want once", n)
	}
}

// TestHideComment: an admin hides a signer's comment; the signer still
// shows on the cause page, the comment does not.
func TestHideComment(t *testing.T) {
	env := newModEnv(t)
	form := signValues("Ada Lovelace", "ada@example.org")
	form.Set("comment", "Something nasty")
	if rec := env.post("/c/"+env.slug+"/sign", form, nil); rec.Code != http.StatusOK {
		t.Fatal(rec.Code)
	}
	env.confirm("ada@example.org")
	if !strings.Contains(env.get("/c/"+env.slug, nil).Body.String(), "Something nasty") {
		t.Fatalf("the comment is not shown to begin with")
	}
	var id int64
	if err := env.w.QueryRow(`SELECT id FROM signatures`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if rec := env.post("/admin/causes/"+env.slug+"/comments/hide", url.Values{"signature": {itoa(id)}}, env.admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("hide comment: status %d", rec.Code)
	}
	page := env.get("/c/"+env.slug, nil).Body.String()
	if strings.Contains(page, "Something nasty") || !strings.Contains(page, "Ada") {
		t.Errorf("after hiding: comment shown %v, signer shown %v; want the signer without the comment",
			strings.Contains(page, "Something nasty"), strings.Contains(page, "Ada"))
	}
	if n := env.count(`SELECT count(*) FROM moderation_log WHERE action = 'hide_comment'`); n != 1 {
		t.Errorf("hiding the comment is logged %d times, want once", n)
	}
}

func TestHoldNetwork(t *testing.T) {
	for ip, want := range map[string]string{
		"203.0.113.77":          "203.0.113.0/24",
		"::ffff:203.0.113.77":   "203.0.113.0/24",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"fe80::1%eth0":          "fe80::/64",
		"not an address at all": "",
	} {
		if got := holdNetwork(ip); got != want {
			t.Errorf("holdNetwork(%q) = %q, want %q", ip, got, want)
		}
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
