package notify

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSuppressedAddressGetsNoBulkMail: once an address is on the
// suppression list, bulk (campaign) mail to it is failed unsent, while
// transactional mail it asked for by acting still goes; an address not on
// the list gets both. The list keeps a keyed hash, never the address.
func TestSuppressedAddressGetsNoBulkMail(t *testing.T) {
	db, _ := mustOpenDB(t)
	secret := []byte("a secret of the site, long enough")
	key := func(addr string) string { return SuppressionKey(secret, strings.ToLower(addr)) }
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := SuppressKey(ctx, tx, key("gone@example.org"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rec := &recordingSender{}
	w := NewWorker(db, rec, WorkerOptions{Logger: testLogger(t), Now: newClock().Now, SuppressionKey: key})
	bulkGone, bulkStays := testMessage("gone@example.org"), testMessage("stays@example.org")
	bulkGone.Priority, bulkStays.Priority = Bulk, Bulk
	confirm := testMessage("gone@example.org")
	mustEnqueue(t, db, bulkGone, bulkStays, confirm)
	if _, err := w.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range rec.sent {
		got = append(got, m.To+"/"+map[Priority]string{Bulk: "bulk", Transactional: "transactional"}[m.Priority])
	}
	if strings.Join(got, " ") != "gone@example.org/transactional stays@example.org/bulk" {
		t.Errorf("sent %v, want the suppressed address's confirmation and the other's bulk mail only", got)
	}
	var status, lastErr string
	if err := db.QueryRow(`SELECT status, last_error FROM outbox WHERE to_addr = 'gone@example.org' AND priority = 1`).Scan(&status, &lastErr); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || !strings.Contains(lastErr, "suppressed") {
		t.Errorf("the suppressed bulk mail is %s (%q), want failed as suppressed", status, lastErr)
	}
	var stored string
	if err := db.QueryRow(`SELECT key_hash FROM suppressions`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, "gone") || stored != key("gone@example.org") || stored == SuppressionKey([]byte("another secret entirely"), "gone@example.org") {
		t.Errorf("the list keeps %q: want the address's HMAC under this site's secret only", stored)
	}
}

// TestPersonalDataOfMails: a person's export lists the mails to any of
// their addresses, and forgetting them deletes those mails, the others
// stay, and the address goes on the suppression list.
func TestPersonalDataOfMails(t *testing.T) {
	db, reader := mustOpenDB(t)
	p := PersonalData{Reader: reader, Secret: []byte("a secret of the site, long enough")}
	mustEnqueue(t, db, testMessage("ada@example.org"), testMessage("Ada+x@example.org"), testMessage("bob@example.org"))
	ctx := context.Background()
	got, err := p.ExportPerson(ctx, "ada@example.org", []string{"ada@example.org", "Ada+x@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if mails := got["mails"].([]MailRecord); len(mails) != 2 || mails[0].Subject != "Please confirm your signature" {
		t.Errorf("export lists %+v, want Ada's two mails with their subjects", mails)
	}
	if got["campaign_mail_suppressed"] != false {
		t.Errorf("export says suppressed before any deletion")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ForgetPerson(ctx, tx, "ada@example.org", []string{"ada@example.org", "Ada+x@example.org"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var left string
	if err := db.QueryRow(`SELECT group_concat(to_addr) FROM outbox`).Scan(&left); err != nil || left != "bob@example.org" {
		t.Errorf("outbox keeps %q, %v; want only Bob's mail", left, err)
	}
	if on, err := IsSuppressed(ctx, db, SuppressionKey(p.Secret, "ada@example.org")); err != nil || !on {
		t.Errorf("Ada suppressed = %v, %v; want true", on, err)
	}
}
