package campaigns

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// withdrawLink returns the path of the withdraw link in the latest mail of
// the kind to email.
func (env *modEnv) withdrawLink(email, kind string) string {
	env.t.Helper()
	var data string
	if err := env.w.QueryRow(`SELECT data FROM outbox WHERE to_addr = ? AND kind = ? ORDER BY id DESC LIMIT 1`, email, kind).Scan(&data); err != nil {
		env.t.Fatalf("no %s mail to %s: %v", kind, email, err)
	}
	var d map[string]string
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		env.t.Fatal(err)
	}
	u, err := url.Parse(d["WithdrawURL"])
	if err != nil || !strings.HasPrefix(u.Path, "/withdraw/") {
		env.t.Fatalf("the %s mail has no withdraw link: %v", kind, d)
	}
	return u.Path
}

// TestWithdrawOneSignature: the link in a signing mail shows which
// signature it withdraws, with a button (a GET changes nothing); pressing
// it deletes that signature alone, counted or not, and the count follows.
// The "already signed" mail withdraws the counted signature. A link made
// up or used already finds nothing.
func TestWithdrawOneSignature(t *testing.T) {
	env := newModEnv(t)
	env.signFrom("198.51.100.1", "Ada Lovelace", "ada@example.org")
	env.signFrom("198.51.100.2", "Bob", "bob@example.org")
	env.confirm("ada@example.org")
	env.confirm("bob@example.org")
	if got := env.publicCount(); got != 2 {
		t.Fatalf("count = %d, want 2", got)
	}
	link := env.withdrawLink("ada@example.org", "signature_confirm")
	page := env.get(link, nil)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "Clean air") || !strings.Contains(page.Body.String(), `action="`+link+`"`) {
		t.Fatalf("withdraw page: status %d, or it names no cause or has no button", page.Code)
	}
	if env.publicCount() != 2 {
		t.Fatalf("a GET of the withdraw link withdrew")
	}
	if rec := env.post(link, nil, nil); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "withdrawn") {
		t.Fatalf("withdraw: status %d", rec.Code)
	}
	if got := env.publicCount(); got != 1 {
		t.Errorf("count after withdrawing = %d, want 1", got)
	}
	if n := env.count(`SELECT count(*) FROM signatures WHERE email = 'ada@example.org'`); n != 0 {
		t.Errorf("%d of Ada's signatures kept after withdrawing", n)
	}
	if n := env.count(`SELECT count(*) FROM supporters WHERE email = 'ada@example.org'`); n != 0 {
		t.Errorf("Ada's supporter row kept after her only signature went")
	}
	if rec := env.post(link, nil, nil); rec.Code != http.StatusNotFound {
		t.Errorf("withdrawing twice: status %d, want 404", rec.Code)
	}
	if rec := env.get(link[:len(link)-2]+"xx", nil); rec.Code != http.StatusNotFound {
		t.Errorf("a tampered link: status %d, want 404", rec.Code)
	}
	// Bob signs again: his "already signed" mail withdraws his counted
	// signature.
	env.signFrom("198.51.100.2", "Bob", "bob@example.org")
	again := env.withdrawLink("bob@example.org", "signature_again")
	if rec := env.post(again, nil, nil); rec.Code != http.StatusOK {
		t.Fatalf("withdraw from the already-signed mail: status %d", rec.Code)
	}
	if got := env.publicCount(); got != 0 {
		t.Errorf("count after Bob withdrew = %d, want 0", got)
	}
}

// TestRetentionAnonymisesOnlyCausesClosedLongEnough: the signers of a cause
// closed longer than the retention period lose their names, addresses,
// postcodes and comments, and the count stays; a cause closed more
// recently, and an open one, keep theirs; nobody is put on the suppression
// list.
func TestRetentionAnonymisesOnlyCausesClosedLongEnough(t *testing.T) {
	env := newModEnv(t)
	ctx := context.Background()
	old := env.cause(env.slug)
	o, err := env.store.FindOrganiser(ctx, old.OrganiserID)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(title string) Cause {
		c, err := env.store.CreateCause(ctx, o.ID, CauseInput{Title: title, Summary: "s", Target: "t", Goal: 10, Lang: "en"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if c, err = env.store.SetStatus(ctx, c.ID, Published); err != nil {
			t.Fatal(err)
		}
		return c
	}
	recent, open := mk("Recent"), mk("Open")
	sign := func(c Cause, name, email string) {
		form := signValues(name, email)
		form.Set("postcode", "75011")
		form.Set("comment", "Because "+name)
		if rec := env.post("/c/"+c.Slug+"/sign", form, nil); rec.Code != http.StatusOK {
			t.Fatal(rec.Code)
		}
		env.confirm(email)
	}
	sign(old, "Ada Old", "ada@example.org")
	sign(old, "Una Only", "una@example.org")
	sign(recent, "Rex Recent", "rex@example.org")
	sign(open, "Ada Old", "ada@example.org") // Ada also signed an open cause
	if rec := env.post("/c/"+old.Slug+"/sign", signValues("Pat Pending", "pat@example.org"), nil); rec.Code != http.StatusOK {
		t.Fatal(rec.Code)
	}

	start := env.now
	if _, err := env.store.SetStatus(ctx, old.ID, Closed); err != nil {
		t.Fatal(err)
	}
	env.now = start.Add(170 * 24 * time.Hour)
	if _, err := env.store.SetStatus(ctx, recent.ID, Closed); err != nil {
		t.Fatal(err)
	}
	env.now = start.Add(181 * 24 * time.Hour)
	causes, sigs, err := env.store.ForgetClosed(ctx, 180*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if causes != 1 || sigs != 3 {
		t.Errorf("anonymised %d causes and %d signatures, want 1 and 3 (two confirmed, one pending deleted)", causes, sigs)
	}
	var names, emails, postcodes, comments int
	if err := env.w.QueryRow(`SELECT count(NULLIF(name, '')), count(NULLIF(email, '')), count(NULLIF(postcode, '')),
		count(NULLIF(comment, '')) FROM signatures WHERE cause_id = ?`, old.ID).Scan(&names, &emails, &postcodes, &comments); err != nil {
		t.Fatal(err)
	}
	if names+emails+postcodes+comments != 0 {
		t.Errorf("the old cause's signatures keep %d names, %d addresses, %d postcodes, %d comments", names, emails, postcodes, comments)
	}
	if n := env.count(`SELECT count(*) FROM signatures WHERE cause_id = ?`, old.ID); n != 2 {
		t.Errorf("the old cause has %d signatures, want its 2 confirmed ones, anonymised", n)
	}
	if got := env.cause(old.Slug).SignatureCount; got != 2 {
		t.Errorf("the old cause counts %d, want 2 still", got)
	}
	for _, c := range []Cause{recent, open} {
		if n := env.count(`SELECT count(*) FROM signatures WHERE cause_id = ? AND email <> '' AND name <> '' AND comment <> ''`, c.ID); n != 1 {
			t.Errorf("%s: %d signers keep their details, want 1", c.Title, n)
		}
	}
	if n := env.count(`SELECT count(*) FROM supporters WHERE email = 'ada@example.org'`); n != 1 {
		t.Errorf("Ada, who also signed an open cause, is no longer a supporter")
	}
	if n := env.count(`SELECT count(*) FROM supporters WHERE email = 'una@example.org'`); n != 0 {
		t.Errorf("Una, who signed only the old cause, is still a supporter")
	}
	if n := env.count(`SELECT count(*) FROM suppressions`); n != 0 {
		t.Errorf("retention put %d addresses on the suppression list", n)
	}
	// Done once: a second run finds nothing.
	if causes, _, err := env.store.ForgetClosed(ctx, 180*24*time.Hour); err != nil || causes != 0 {
		t.Errorf("second run: %d causes, %v; want none", causes, err)
	}
}

// TestNetworksAreForgottenAfter30Days: a signature keeps its client's
// network for NetworkKept, then loses it.
func TestNetworksAreForgottenAfter30Days(t *testing.T) {
	env := newModEnv(t)
	env.signFrom("203.0.113.5", "Ada", "ada@example.org")
	next, n, err := env.store.ForgetNetworks(context.Background(), 0)
	if err != nil || n != 0 {
		t.Fatalf("a new signature: cleared %d, %v; want 0", n, err)
	}
	// Signature ids are the wall clock's nanoseconds: the store's clock
	// moves past them by NetworkKept.
	env.now = time.Now().Add(NetworkKept + time.Hour)
	if _, n, err = env.store.ForgetNetworks(context.Background(), next); err != nil || n != 1 {
		t.Fatalf("after 30 days: cleared %d, %v; want 1", n, err)
	}
	if n := env.count(`SELECT count(*) FROM signatures WHERE network <> ''`); n != 0 {
		t.Errorf("%d signatures keep a network after 30 days", n)
	}
}
