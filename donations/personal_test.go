package donations

import (
	"strings"
	"testing"
	"time"
)

// TestPersonalDataOfDonations: a person's export holds their donations and
// the payments Stripe reported, found by their address however it was
// typed; forgetting them keeps every row for the cause's accounts with
// Stripe's ids only, and the totals do not move.
func TestPersonalDataOfDonations(t *testing.T) {
	e := newEnv(t, testConfig())
	d := e.addDonation("ref-ada", 1500, false, "en")
	e.send("evt_ada", "checkout.session.completed", paidSession(d.Ref, "pi_ada", 1500))
	other := e.addDonation("ref-bob", 700, false, "en")
	if _, err := e.w.Exec(`UPDATE donations SET email = 'bob@example.org' WHERE id = ?`, other.ID); err != nil {
		t.Fatal(err)
	}
	e.wantTotals(1500, 1, 1)

	p := e.store.Personal()
	key := "ada@example.org"
	emails, err := p.AddressesOf(e.ctx(), key)
	if err != nil || len(emails) != 1 || emails[0] != "ada@example.org" {
		t.Fatalf("addresses = %v, %v; want ada@example.org", emails, err)
	}
	got, err := p.ExportPerson(e.ctx(), key, emails)
	if err != nil {
		t.Fatal(err)
	}
	ds, ps := got["donations"].([]DonationRecord), got["payments"].([]PaymentRecord)
	if len(ds) != 1 || ds[0].AmountMinor != 1500 || ds[0].Cause != testSlug || len(ps) != 1 || ps[0].StripeID != "pi_ada" {
		t.Errorf("export = %+v / %+v; want Ada's one donation and its payment", ds, ps)
	}

	tx, err := e.w.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ForgetPerson(e.ctx(), tx, key, emails, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT count(*) FROM donations WHERE email LIKE '%ada%'`,
		`SELECT count(*) FROM donation_payments WHERE email LIKE '%ada%' OR donor_key LIKE '%ada%'`,
	} {
		if n := e.count(q); n != 0 {
			t.Errorf("%s = %d after forgetting Ada", q, n)
		}
	}
	var session, stripeID string
	if err := e.r.QueryRow(`SELECT d.checkout_session_id, p.stripe_id FROM donations d JOIN donation_payments p ON p.donation_id = d.id
		WHERE d.ref = 'ref-ada'`).Scan(&session, &stripeID); err != nil || session == "" || stripeID != "pi_ada" {
		t.Errorf("Stripe's ids kept: %q, %q, %v; want the session and the payment intent", session, stripeID, err)
	}
	if n := e.count(`SELECT count(*) FROM donations WHERE email = 'bob@example.org'`); n != 1 {
		t.Errorf("Bob's donation lost its address")
	}
	e.wantTotals(1500, 1, 1)
	if again, _ := p.AddressesOf(e.ctx(), key); len(again) != 0 || strings.Contains(strings.Join(again, ","), "ada") {
		t.Errorf("after forgetting, addresses = %v", again)
	}
}
