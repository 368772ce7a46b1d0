package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/cmd/rally/database"
	"github.com/rallyhq/rally/notify"
)

var privacyLink = regexp.MustCompile(`/privacy/([A-Za-z0-9_-]{43})`)

// confirmFor presses the button of the latest confirmation mail to addr.
func (ta *testApp) confirmFor(addr string) {
	ta.t.Helper()
	m := confirmLink.FindStringSubmatch(ta.lastMailTo(addr))
	if m == nil {
		ta.t.Fatalf("no confirmation link mailed to %s", addr)
	}
	if r := ta.do(ta.client(), "POST", "/confirm/"+m[1], nil); r.status != http.StatusOK {
		ta.t.Fatalf("confirm %s: status %d", addr, r.status)
	}
}

// privacyRequest asks for kind of the address's data as a visitor and
// returns the path of the link mailed to it.
func (ta *testApp) privacyRequest(addr, kind string) string {
	ta.t.Helper()
	r := ta.do(ta.client(), "POST", "/privacy/request", url.Values{"email": {addr}, "kind": {kind}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "Check your email") {
		ta.t.Fatalf("privacy request: status %d, want the check-your-email page", r.status)
	}
	m := privacyLink.FindStringSubmatch(ta.lastMailTo(addr))
	if m == nil {
		ta.t.Fatalf("no privacy link mailed to %s", addr)
	}
	return "/privacy/" + m[1]
}

// TestPeoplesRights: a person asks, by a link mailed to them, for a copy of
// everything Rally holds on their address, and gets it as a JSON download
// (signatures, comments, consents, donations, mails sent, reports); then
// for its deletion, after which no table of the database and no file of
// the dev outbox holds the address, their name, their postcode or their
// comment, and the only trace of them is their keyed hash on the
// suppression list; counts are kept, no campaign mail reaches them, and a
// new signing's confirmation still does.
func TestPeoplesRights(t *testing.T) {
	ta := newTestApp(t, map[string]string{"RALLY_RATE_LIMITS": "off"})
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air for schools")
	other := ta.publishedCause(org, "Trees on every street")
	visitor := ta.client()
	ada := url.Values{"name": {"Ada Lovelace"}, "email": {"Ada.Lovelace@Example.org"}, "country": {"GB"}, "postcode": {"SW1A 1AA"},
		"comment": {"My daughter has asthma"}, "public": {"1"}, "updates": {"1"}}
	if r := ta.do(visitor, "POST", "/c/"+slug+"/sign", ada); r.status != http.StatusOK {
		t.Fatalf("sign: %d", r.status)
	}
	ta.confirmFor("Ada.Lovelace@example.org")
	if r := ta.do(visitor, "POST", "/c/"+other+"/sign", ada); r.status != http.StatusOK { // never confirmed
		t.Fatalf("sign: %d", r.status)
	}
	bob := url.Values{"name": {"Bob Builder"}, "email": {"bob@example.org"}, "country": {"FR"}, "public": {"1"}}
	ta.do(visitor, "POST", "/c/"+slug+"/sign", bob)
	ta.confirmFor("bob@example.org")
	if r := ta.do(visitor, "POST", "/c/"+other+"/report", url.Values{"reason": {"Misleading"}, "email": {"ada.lovelace@example.org"}}); r.status != http.StatusOK {
		t.Fatalf("report: %d", r.status)
	}
	// A donation as Stripe's webhook records it (the donations tests take
	// it through Checkout and the webhook; here Stripe is off).
	causeID := ta.count(`SELECT id FROM causes WHERE slug = ?`, slug)
	now := time.Now().UTC()
	if _, err := ta.writer.Exec(`INSERT INTO donations (ref, cause_id, email, amount_minor, currency, status, checkout_session_id,
		customer_id, created_at, updated_at) VALUES ('ref-ada', ?, 'ada.lovelace@example.org', 2500, 'eur', 'paid', 'cs_ada', 'cus_ada', ?, ?)`,
		causeID, now, now); err != nil {
		t.Fatal(err)
	}
	if _, err := ta.writer.Exec(`INSERT INTO donation_payments (stripe_id, payment_intent_id, donation_id, cause_id, amount_minor,
		currency, email, donor_key, paid_at, created_at) VALUES ('pi_ada', 'pi_ada', (SELECT id FROM donations WHERE ref = 'ref-ada'),
		?, 2500, 'eur', 'ada.lovelace@example.org', 'ada.lovelace@example.org', ?, ?)`, causeID, now, now); err != nil {
		t.Fatal(err)
	}

	// The mails a signer gets carry a link to withdraw, and every mail one
	// to the privacy page.
	if m := ta.lastMailTo("Ada.Lovelace@example.org"); !strings.Contains(m, "/withdraw/") || !strings.Contains(m, ta.srv.URL+"/privacy") {
		t.Errorf("a signing mail lacks the withdraw link or the privacy link:\n%s", m)
	}

	// A blast to the cause's supporters reaches her before she asks.
	b := ta.do(org, "POST", "/campaigns/"+slug+"/blasts", url.Values{"subject": {"{first_name|Friend}, the council votes"},
		"body": {"The council votes on Monday."}, "cta_label": {"Read the plan"}, "cta_url": {"https://example.org/plan"}})
	blastPath := b.header.Get("Location")
	if b.status != http.StatusSeeOther || !blastPathRE.MatchString(blastPath) {
		t.Fatalf("save a blast: status %d", b.status)
	}
	if r := ta.do(org, "POST", blastPath+"/send", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("send the blast: status %d", r.status)
	}
	ta.runBlasts()
	if m := ta.lastMailTo("ada.lovelace@example.org"); !strings.Contains(m, "the council votes") {
		t.Fatalf("the blast did not reach her:\n%s", m)
	}

	// A copy.
	link := ta.privacyRequest("ada.lovelace@example.org", "export")
	page := ta.do(visitor, "GET", link, nil)
	if page.status != http.StatusOK || !strings.Contains(page.body, "Download my data") {
		t.Fatalf("export link: status %d, want the page with its button", page.status)
	}
	r := ta.do(visitor, "POST", link, url.Values{})
	if r.status != http.StatusOK || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("export: status %d, %q, %q; want a JSON download", r.status, r.header.Get("Content-Type"), r.header.Get("Content-Disposition"))
	}
	var export struct {
		Signatures []campaigns.SignatureRecord `json:"signatures"`
		Comments   []campaigns.CommentRecord   `json:"comments"`
		Consents   []campaigns.ConsentRecord   `json:"consents"`
		Donations  []json.RawMessage           `json:"donations"`
		Payments   []json.RawMessage           `json:"payments"`
		Mails      []notify.MailRecord         `json:"mails"`
		Blasts     []notify.BlastRecord        `json:"blasts"`
		Reports    []json.RawMessage           `json:"reports"`
		Supporter  *struct{ Postcode string }  `json:"supporter"`
	}
	if err := json.Unmarshal([]byte(r.body), &export); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, r.body)
	}
	if len(export.Signatures) != 2 || !export.Signatures[0].Counted || export.Signatures[1].ConfirmedAt != nil {
		t.Errorf("export signatures = %+v, want the counted one and the one never confirmed", export.Signatures)
	}
	if len(export.Comments) != 2 || export.Comments[0].Comment != "My daughter has asthma" {
		t.Errorf("export comments = %+v", export.Comments)
	}
	if len(export.Consents) != 2 || !export.Consents[0].CampaignEmails || !export.Consents[0].ShowMyName {
		t.Errorf("export consents = %+v, want campaign emails and the name shown agreed to", export.Consents)
	}
	if len(export.Donations) != 1 || len(export.Payments) != 1 || len(export.Reports) != 1 {
		t.Errorf("export has %d donations, %d payments, %d reports; want 1 each", len(export.Donations), len(export.Payments), len(export.Reports))
	}
	if export.Supporter == nil || export.Supporter.Postcode != "SW1A 1AA" {
		t.Errorf("export supporter = %+v", export.Supporter)
	}
	subjects := ""
	for _, m := range export.Mails {
		subjects += m.Subject + "|"
	}
	if len(export.Mails) < 3 || !strings.Contains(subjects, "Confirm your signature: Clean air for schools") {
		t.Errorf("export mails = %q; want the confirmations and the privacy mail, with their subjects", subjects)
	}
	if len(export.Blasts) != 1 || export.Blasts[0].Status != "sent" || export.Blasts[0].Subject != "{first_name|Friend}, the council votes" {
		t.Errorf("export blasts = %+v, want the one sent to her", export.Blasts)
	}
	if r := ta.do(visitor, "POST", link, url.Values{}); r.status != http.StatusGone {
		t.Errorf("the export link used twice: status %d, want 410", r.status)
	}

	// An address Rally has never seen gets the same page.
	stranger := ta.do(visitor, "POST", "/privacy/request", url.Values{"email": {"nobody@example.org"}, "kind": {"delete"}})
	if stranger.status != http.StatusOK || !strings.Contains(stranger.body, "Check your email") {
		t.Errorf("a request for an unknown address: status %d", stranger.status)
	}
	if r := ta.do(visitor, "POST", "/privacy/request", url.Values{"email": {"nope"}, "kind": {"export"}}); r.status != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, `value="nope"`) {
		t.Errorf("a request with a bad address: status %d, want 422 with what was typed", r.status)
	}

	// The deletion.
	before := ta.count(`SELECT signature_count FROM causes WHERE slug = ?`, slug)
	link = ta.privacyRequest("ada.lovelace@example.org", "delete")
	if page := ta.do(visitor, "GET", link, nil); page.status != http.StatusOK || !strings.Contains(page.body, "Delete my data") {
		t.Fatalf("delete link: status %d", page.status)
	}
	if n := ta.count(`SELECT count(*) FROM signatures WHERE email <> ''`); n != 3 {
		t.Fatalf("a GET of the delete link changed something: %d signatures keep an address", n)
	}
	if r := ta.do(visitor, "POST", link, url.Values{}); r.status != http.StatusOK || !strings.Contains(r.body, "Your data is deleted") {
		t.Fatalf("delete: status %d", r.status)
	}
	if after := ta.count(`SELECT signature_count FROM causes WHERE slug = ?`, slug); after != before {
		t.Errorf("count after the deletion = %d, want %d kept", after, before)
	}
	traces := []string{"ada.lovelace@example.org", "Lovelace", "SW1A 1AA", "asthma"}
	if found := findInDatabase(t, ta.reader, traces); len(found) > 0 {
		t.Errorf("after the deletion the database still holds: %v", found)
	}
	if found := findInFiles(t, ta.mailDir, traces); len(found) > 0 {
		t.Errorf("after the deletion the dev outbox still holds: %v", found)
	}
	// Nor is any of it left readable in the file's free space, once the
	// WAL is copied into it.
	for i := 0; ; i++ {
		var busy, frames, copied int
		if err := ta.writer.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &copied); err != nil {
			t.Fatal(err)
		}
		if busy == 0 || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	raw, err := os.ReadFile(database.Path(ta.cfg.Data))
	if err != nil {
		t.Fatal(err)
	}
	for _, trace := range []string{"SW1A 1AA", "asthma"} {
		if bytes.Contains(raw, []byte(trace)) {
			t.Errorf("after the deletion the database file still holds %q in its free space", trace)
		}
	}
	if n := ta.count(`SELECT count(*) FROM blast_deliveries WHERE state = 'sent'`); n != 1 {
		t.Errorf("%d blast deliveries are counted sent after the deletion, want 1: the blast's figures stay", n)
	}
	if n := ta.count(`SELECT count(*) FROM blast_deliveries WHERE first_name <> '' OR email <> ''`); n != 0 {
		t.Errorf("%d blast deliveries keep an address or a name after the deletion", n)
	}
	hash := notify.SuppressionKey(ta.secret, notify.EmailKey("ada.lovelace@example.org"))
	if n := ta.count(`SELECT count(*) FROM suppressions WHERE key_hash = ? AND cause_id = 0`, hash); n != 1 {
		t.Errorf("the address's keyed hash is on the suppression list %d times, want once", n)
	}
	if n := ta.count(`SELECT count(*) FROM donations WHERE checkout_session_id = 'cs_ada' AND customer_id = 'cus_ada'`); n != 1 {
		t.Errorf("the donation lost Stripe's ids")
	}
	if n := ta.count(`SELECT count(*) FROM signatures WHERE email = 'bob@example.org'`); n != 1 {
		t.Errorf("Bob's signature went too")
	}

	// No campaign mail reaches her; the confirmation of a new signing does.
	ctx := context.Background()
	tx, err := ta.writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := notify.Enqueue(ctx, tx, notify.Message{To: "ada.lovelace@example.org", Subject: "News", Text: "News", Priority: notify.Bulk, Kind: "blast"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if m := ta.lastMailTo("ada.lovelace@example.org"); m != "" {
		t.Errorf("a campaign mail reached a deleted address:\n%s", m)
	}
	if r := ta.do(visitor, "POST", "/c/"+slug+"/sign", ada); r.status != http.StatusOK {
		t.Fatal(r.status)
	}
	if m := ta.lastMailTo("Ada.Lovelace@example.org"); !confirmLink.MatchString(m) {
		t.Errorf("a new signing's confirmation did not reach the deleted address")
	}
}

// findInDatabase returns where in the database's text any of values
// appears (case-insensitively), as table.column.
func findInDatabase(t *testing.T, db *sql.DB, values []string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var found []string
	for _, table := range tables {
		cols, err := db.Query(`SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for cols.Next() {
			var n string
			cols.Scan(&n)
			names = append(names, n)
		}
		cols.Close()
		for _, col := range names {
			for _, v := range values {
				var n int
				q := fmt.Sprintf(`SELECT count(*) FROM %q WHERE instr(lower(CAST(%q AS TEXT)), lower(?)) > 0`, table, col)
				if err := db.QueryRow(q, v).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n > 0 {
					found = append(found, fmt.Sprintf("%s.%s (%q)", table, col, v))
				}
			}
		}
	}
	return found
}

// findInFiles returns the files under dir that hold any of values.
func findInFiles(t *testing.T, dir string, values []string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, v := range values {
			if strings.Contains(strings.ToLower(decodeQP(string(b))), strings.ToLower(v)) {
				found = append(found, filepath.Base(path)+" ("+v+")")
			}
		}
		return nil
	})
	return found
}
