package donations

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// obj is a Stripe object as it appears in an event.
type obj = map[string]any

// stripeEvent builds the JSON of a Stripe event of the library's API version.
func stripeEvent(id, typ string, object obj) []byte {
	b, err := json.Marshal(obj{"id": id, "object": "event", "type": typ, "api_version": stripe.APIVersion,
		"created": time.Now().Unix(), "livemode": false, "data": obj{"object": object}})
	if err != nil {
		panic(err)
	}
	return b
}

// postSigned posts payload to the webhook, signed with secret at ts.
func (e *env) postSigned(payload []byte, secret string, ts time.Time) *httptest.ResponseRecorder {
	e.t.Helper()
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: ts})
	req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signed.Header)
	rec := httptest.NewRecorder()
	e.engine.ServeHTTP(rec, req)
	return rec
}

// send posts a correctly signed event and expects 200.
func (e *env) send(id, typ string, object obj) {
	e.t.Helper()
	rec := e.postSigned(stripeEvent(id, typ, object), testWebhookSecret, time.Now())
	if rec.Code != http.StatusOK {
		e.t.Fatalf("event %s (%s): status %d, body %s", id, typ, rec.Code, rec.Body)
	}
}

func paidSession(ref, pi string, amount int64) obj {
	return obj{"id": "cs_test_same_for_all", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
		"status": "complete", "client_reference_id": ref, "metadata": obj{"cause": testSlug, "donation": ref},
		"amount_total": amount, "currency": "eur", "payment_intent": pi, "customer": nil,
		"customer_details": obj{"email": "ada@example.org"}}
}

func subscriptionSession(ref, sub string, amount int64) obj {
	return obj{"id": "cs_test_same_for_all", "object": "checkout.session", "mode": "subscription", "payment_status": "paid",
		"status": "complete", "client_reference_id": ref, "metadata": obj{"cause": testSlug, "donation": ref},
		"amount_total": amount, "currency": "eur", "payment_intent": nil, "subscription": sub, "customer": "cus_ada",
		"invoice": "in_first", "customer_details": obj{"email": "ada@example.org"}}
}

// paidInvoice is an invoice of the subscription; ref is the donation in its
// subscription's metadata, or "" for none.
func paidInvoice(id, sub, pi, ref string, amount int64) obj {
	inv := obj{"id": id, "object": "invoice", "status": "paid", "amount_paid": amount, "currency": "eur",
		"subscription": sub, "payment_intent": pi, "customer": "cus_ada", "customer_email": "ada@example.org",
		"billing_reason": "subscription_cycle", "status_transitions": obj{"paid_at": time.Now().Unix()}}
	if ref != "" {
		inv["subscription_details"] = obj{"metadata": obj{"cause": testSlug, "donation": ref}}
	}
	return inv
}

func refundedCharge(id, pi string, amount, refunded int64) obj {
	return obj{"id": id, "object": "charge", "amount": amount, "amount_refunded": refunded, "currency": "eur",
		"payment_intent": pi, "refunded": refunded >= amount, "invoice": nil}
}

func TestWebhookOneOffPaid(t *testing.T) {
	e := newEnv(t, testConfig())
	d := e.addDonation("ref-one", 1250, false, "fr")
	e.wantTotals(0, 0, 0)

	e.send("evt_1", "checkout.session.completed", paidSession(d.Ref, "pi_1", 1250))
	e.wantTotals(1250, 1, 1)
	if got := e.donation(d.Ref).Status; got != StatusPaid {
		t.Errorf("status = %s, want paid", got)
	}
	var subject, lang, to, text string
	if err := e.r.QueryRow(`SELECT subject, lang, to_addr, text_body FROM outbox WHERE kind = 'donation_receipt'`).Scan(&subject, &lang, &to, &text); err != nil {
		t.Fatalf("receipt not queued: %v", err)
	}
	if lang != "fr" || !strings.Contains(subject, "Merci") || to != "ada@example.org" {
		t.Errorf("receipt = %q in %s to %s, want a French receipt to ada@example.org", subject, lang, to)
	}
	if !strings.Contains(text, "12,50") || !strings.Contains(text, "http://rally.test/c/"+testSlug) {
		t.Errorf("receipt text lacks the amount or the cause link:\n%s", text)
	}
	if strings.Contains(text, "/donations/cancel/") {
		t.Errorf("a one-off receipt offers to cancel:\n%s", text)
	}

	t.Run("same event twice", func(t *testing.T) {
		e.send("evt_1", "checkout.session.completed", paidSession(d.Ref, "pi_1", 1250))
		e.wantTotals(1250, 1, 1)
		if n := e.count(`SELECT count(*) FROM outbox`); n != 1 {
			t.Errorf("outbox has %d mails, want 1", n)
		}
		if n := e.count(`SELECT count(*) FROM stripe_events WHERE id = 'evt_1'`); n != 1 {
			t.Errorf("event stored %d times, want once", n)
		}
	})
	t.Run("same payment from another event", func(t *testing.T) {
		e.send("evt_2", "checkout.session.async_payment_succeeded", paidSession(d.Ref, "pi_1", 1250))
		e.wantTotals(1250, 1, 1)
	})
}

func TestWebhookDelayedPayment(t *testing.T) {
	e := newEnv(t, testConfig())
	ok := e.addDonation("ref-ok", 2000, false, "en")
	ko := e.addDonation("ref-ko", 3000, false, "en")
	pending := func(ref, pi string, amount int64) obj {
		s := paidSession(ref, pi, amount)
		s["payment_status"] = "unpaid"
		return s
	}

	e.send("evt_1", "checkout.session.completed", pending(ok.Ref, "pi_ok", 2000))
	e.send("evt_2", "checkout.session.completed", pending(ko.Ref, "pi_ko", 3000))
	e.wantTotals(0, 0, 0)
	if got := e.donation(ok.Ref).Status; got != StatusProcessing {
		t.Errorf("status after unpaid completion = %s, want processing", got)
	}

	e.send("evt_3", "checkout.session.async_payment_succeeded", paidSession(ok.Ref, "pi_ok", 2000))
	e.send("evt_4", "checkout.session.async_payment_failed", pending(ko.Ref, "pi_ko", 3000))
	e.wantTotals(2000, 1, 1)
	if got := e.donation(ok.Ref).Status; got != StatusPaid {
		t.Errorf("status after async success = %s, want paid", got)
	}
	if got := e.donation(ko.Ref).Status; got != StatusFailed {
		t.Errorf("status after async failure = %s, want failed", got)
	}
}

func TestWebhookSuccessBeforeCompletion(t *testing.T) {
	e := newEnv(t, testConfig())
	d := e.addDonation("ref-late", 2000, false, "en")
	e.send("evt_1", "checkout.session.async_payment_succeeded", paidSession(d.Ref, "pi_1", 2000))
	unpaid := paidSession(d.Ref, "pi_1", 2000)
	unpaid["payment_status"] = "unpaid"
	e.send("evt_2", "checkout.session.completed", unpaid)
	e.wantTotals(2000, 1, 1)
	if got := e.donation(d.Ref).Status; got != StatusPaid {
		t.Errorf("a late completion moved the status back to %s", got)
	}
}

func TestWebhookMonthly(t *testing.T) {
	e := newEnv(t, testConfig())
	d := e.addDonation("ref-month", 500, true, "en")

	e.send("evt_1", "checkout.session.completed", subscriptionSession(d.Ref, "sub_1", 500))
	e.wantTotals(0, 0, 0) // the first payment comes as invoice.paid
	if got := e.donation(d.Ref); got.Status != StatusActive || got.SubscriptionID != "sub_1" || got.CustomerID != "cus_ada" {
		t.Errorf("donation after completion = %+v, want active on sub_1 for cus_ada", got)
	}
	e.send("evt_2", "invoice.paid", paidInvoice("in_first", "sub_1", "pi_first", d.Ref, 500))
	e.send("evt_3", "invoice.paid", paidInvoice("in_second", "sub_1", "pi_second", d.Ref, 500))
	e.send("evt_3", "invoice.paid", paidInvoice("in_second", "sub_1", "pi_second", d.Ref, 500))
	e.wantTotals(1000, 2, 1)

	var text string
	if err := e.r.QueryRow(`SELECT text_body FROM outbox ORDER BY id DESC LIMIT 1`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "http://rally.test/donations/cancel/") {
		t.Errorf("a monthly receipt does not say how to stop:\n%s", text)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE kind = 'donation_receipt'`); n != 2 {
		t.Errorf("%d receipts queued, want one per payment: 2", n)
	}

	t.Run("refund of a monthly payment", func(t *testing.T) {
		e.send("evt_4", "charge.refunded", refundedCharge("ch_second", "pi_second", 500, 500))
		e.wantTotals(500, 1, 1)
	})
	t.Run("subscription deleted", func(t *testing.T) {
		e.send("evt_5", "customer.subscription.deleted", obj{"id": "sub_1", "object": "subscription", "status": "canceled",
			"metadata": obj{"donation": d.Ref}})
		if got := e.donation(d.Ref); got.Status != StatusCanceled || got.CanceledAt == nil {
			t.Errorf("donation after subscription.deleted = %+v, want canceled", got)
		}
		e.wantTotals(500, 1, 1)
	})
}

func TestWebhookRenewalBeforeFirstCompletion(t *testing.T) {
	for _, withMetadata := range []bool{false, true} {
		name := "invoice without metadata"
		if withMetadata {
			name = "invoice with the subscription's metadata"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			d := e.addDonation("ref-month", 700, true, "en")
			ref := ""
			if withMetadata {
				ref = d.Ref
			}
			e.send("evt_renewal", "invoice.paid", paidInvoice("in_second", "sub_9", "pi_second", ref, 700))
			if withMetadata {
				e.wantTotals(700, 1, 1)
			} else {
				e.wantTotals(0, 0, 0) // not known to be Rally's cause yet
			}
			e.send("evt_done", "checkout.session.completed", subscriptionSession(d.Ref, "sub_9", 700))
			e.wantTotals(700, 1, 1)
			e.send("evt_first", "invoice.paid", paidInvoice("in_first", "sub_9", "pi_first", ref, 700))
			e.wantTotals(1400, 2, 1)
			if n := e.count(`SELECT count(*) FROM outbox WHERE kind = 'donation_receipt'`); n != 2 {
				t.Errorf("%d receipts queued, want 2", n)
			}
			if got := e.donation(d.Ref).Status; got != StatusActive {
				t.Errorf("status = %s, want active", got)
			}
		})
	}
}

func TestWebhookRefunds(t *testing.T) {
	e := newEnv(t, testConfig())
	d := e.addDonation("ref-r", 1250, false, "en")
	other := e.addDonation("ref-other", 1000, false, "en")
	e.send("evt_1", "checkout.session.completed", paidSession(d.Ref, "pi_1", 1250))
	e.send("evt_2", "checkout.session.completed", paidSession(other.Ref, "pi_2", 1000))
	e.wantTotals(2250, 2, 1)

	e.send("evt_3", "charge.refunded", refundedCharge("ch_1", "pi_1", 1250, 250))
	e.wantTotals(2000, 2, 1)
	e.send("evt_3", "charge.refunded", refundedCharge("ch_1", "pi_1", 1250, 250))
	e.wantTotals(2000, 2, 1)
	e.send("evt_4", "charge.refunded", refundedCharge("ch_1", "pi_1", 1250, 1250))
	e.wantTotals(1000, 1, 1)
	// The partial refund's event once more, under another id, arriving late.
	e.send("evt_5", "charge.refunded", refundedCharge("ch_1", "pi_1", 1250, 250))
	e.wantTotals(1000, 1, 1)
	if n := e.count(`SELECT count(*) FROM donation_payments`); n != 2 {
		t.Errorf("%d ledger rows, want 2: refunds change the net, not the entries", n)
	}
}

func TestWebhookRefundBeforePayment(t *testing.T) {
	e := newEnv(t, testConfig())
	d := e.addDonation("ref-r", 1250, false, "en")
	e.send("evt_1", "charge.refunded", refundedCharge("ch_1", "pi_1", 1250, 500))
	e.wantTotals(0, 0, 0)
	e.send("evt_2", "checkout.session.completed", paidSession(d.Ref, "pi_1", 1250))
	e.wantTotals(750, 1, 1)
}

func TestWebhookRefusesBadSignatures(t *testing.T) {
	e := newEnv(t, testConfig())
	d := e.addDonation("ref-sig", 1250, false, "en")
	payload := stripeEvent("evt_forged", "checkout.session.completed", paidSession(d.Ref, "pi_1", 1250))

	forged := func() *httptest.ResponseRecorder {
		// Signed for one body, sent with another.
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(`{"id":"evt_other"}`), Secret: testWebhookSecret})
		req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", signed.Header)
		rec := httptest.NewRecorder()
		e.engine.ServeHTTP(rec, req)
		return rec
	}
	unsigned := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(payload))
		rec := httptest.NewRecorder()
		e.engine.ServeHTTP(rec, req)
		return rec
	}
	tests := []struct {
		name string
		post func() *httptest.ResponseRecorder
	}{
		{"forged signature", forged},
		{"no signature", unsigned},
		{"wrong secret", func() *httptest.ResponseRecorder { return e.postSigned(payload, "whsec_someone_else", time.Now()) }},
		{"stale timestamp", func() *httptest.ResponseRecorder {
			return e.postSigned(payload, testWebhookSecret, time.Now().Add(-6*time.Minute))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rec := tt.post(); rec.Code != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", rec.Code)
			}
			e.wantTotals(0, 0, 0)
			if n := e.count(`SELECT count(*) FROM stripe_events`); n != 0 {
				t.Errorf("%d events stored, want none", n)
			}
			if got := e.donation(d.Ref).Status; got != StatusOpen {
				t.Errorf("status = %s, want open", got)
			}
		})
	}
	// The same event, properly signed, is then taken.
	if rec := e.postSigned(payload, testWebhookSecret, time.Now()); rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	e.wantTotals(1250, 1, 1)
}

func TestWebhookIgnoresWhatIsNotRallys(t *testing.T) {
	e := newEnv(t, testConfig())
	e.send("evt_unknown", "customer.created", obj{"id": "cus_1", "object": "customer"})
	if n := e.count(`SELECT count(*) FROM stripe_events`); n != 0 {
		t.Errorf("an ignored event type was stored")
	}
	e.send("evt_foreign", "checkout.session.completed", paidSession("someone-elses-ref", "pi_foreign", 9900))
	e.send("evt_foreign_inv", "invoice.paid", obj{"id": "in_x", "amount_paid": 900, "currency": "eur"})
	e.wantTotals(0, 0, 0)
	if n := e.count(`SELECT count(*) FROM donation_payments`); n != 0 {
		t.Errorf("%d ledger rows for payments that are not Rally's", n)
	}
}

func TestWebhookOtherAPIVersion(t *testing.T) {
	e := newEnv(t, testConfig())
	d := e.addDonation("ref-v", 900, true, "en")
	// A newer API version moved an invoice's subscription under parent.
	inv := obj{"id": "in_new", "object": "invoice", "amount_paid": 900, "currency": "eur", "customer": "cus_ada",
		"customer_email": "ada@example.org",
		"parent": obj{"type": "subscription_details", "subscription_details": obj{"subscription": "sub_new",
			"metadata": obj{"donation": d.Ref, "cause": testSlug}}}}
	b, _ := json.Marshal(obj{"id": "evt_new", "object": "event", "type": "invoice.paid", "api_version": "2025-03-31.basil",
		"created": time.Now().Unix(), "data": obj{"object": inv}})
	if rec := e.postSigned(b, testWebhookSecret, time.Now()); rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	e.wantTotals(900, 1, 1)
	if got := e.donation(d.Ref).SubscriptionID; got != "sub_new" {
		t.Errorf("subscription = %q, want sub_new", got)
	}
}

func TestWebhookExpiredAndOtherCurrency(t *testing.T) {
	e := newEnv(t, testConfig())
	gone := e.addDonation("ref-gone", 500, false, "en")
	usd := e.addDonation("ref-usd", 500, false, "en")
	e.send("evt_1", "checkout.session.expired", obj{"id": "cs_x", "client_reference_id": gone.Ref, "mode": "payment",
		"payment_status": "unpaid", "status": "expired"})
	if got := e.donation(gone.Ref).Status; got != StatusExpired {
		t.Errorf("status = %s, want expired", got)
	}
	s := paidSession(usd.Ref, "pi_usd", 500)
	s["currency"] = "usd"
	e.send("evt_2", "checkout.session.completed", s)
	e.wantTotals(0, 0, 0) // the totals are in the configured currency
}

func TestWebhookOffWithoutKeys(t *testing.T) {
	e := newEnv(t, Config{Currency: "eur"})
	rec := e.postSigned(stripeEvent("evt_1", "customer.created", obj{}), testWebhookSecret, time.Now())
	if rec.Code != http.StatusNotFound {
		t.Errorf("status = %d, want 404 while donations are off", rec.Code)
	}
}

func TestWebhookTooLarge(t *testing.T) {
	e := newEnv(t, testConfig())
	payload := bytes.Repeat([]byte("x"), maxWebhookBody+1)
	if rec := e.postSigned(payload, testWebhookSecret, time.Now()); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", rec.Code)
	}
}
