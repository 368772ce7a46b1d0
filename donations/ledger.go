package donations

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rallyhq/rally/notify"
)

// processEvent applies a Stripe event at most once: its id is inserted in
// the same transaction as its effects, so a second delivery finds it and
// changes nothing, and a failed one leaves no trace to be retried over.
// It reports whether the event was new.
func (s *Store) processEvent(ctx context.Context, id, typ, apiVersion string, apply func(context.Context, *sql.Tx) error) (bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("stripe event %s: %w", id, err)
	}
	defer tx.Rollback()
	var stored string
	err = tx.QueryRowContext(ctx, `INSERT INTO stripe_events (id, type, api_version, received_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING RETURNING id`, id, typ, apiVersion, s.now()).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stripe event %s: %w", id, err)
	}
	if err := apply(ctx, tx); err != nil {
		return false, fmt.Errorf("stripe event %s (%s): %w", id, typ, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("stripe event %s: %w", id, err)
	}
	s.totals.invalidate()
	return true, nil
}

func (s *Store) donationByRef(ctx context.Context, tx *sql.Tx, ref string) (Donation, error) {
	return scanDonation(tx.QueryRowContext(ctx, `SELECT `+donationColumns+` FROM donations d WHERE d.ref = ?`, ref))
}

func (s *Store) donationBySubscription(ctx context.Context, tx *sql.Tx, subscriptionID string) (Donation, error) {
	return scanDonation(tx.QueryRowContext(ctx, `SELECT `+donationColumns+` FROM donations d
		WHERE d.subscription_id = ? ORDER BY d.id LIMIT 1`, subscriptionID))
}

// checkoutDetails records what a Checkout Session event says about the
// donor: the session, the Stripe customer, the subscription and the email
// given to Stripe. Empty values leave what is known.
func (s *Store) checkoutDetails(ctx context.Context, tx *sql.Tx, id int64, sessionID, customerID, email string) error {
	_, err := tx.ExecContext(ctx, `UPDATE donations SET
		checkout_session_id = CASE WHEN ? <> '' THEN ? ELSE checkout_session_id END,
		customer_id = CASE WHEN ? <> '' THEN ? ELSE customer_id END,
		email = CASE WHEN ? <> '' THEN ? ELSE email END,
		updated_at = ? WHERE id = ?`,
		sessionID, sessionID, customerID, customerID, email, email, s.now(), id)
	if err != nil {
		return fmt.Errorf("record checkout details: %w", err)
	}
	return nil
}

// attachSubscription ties a subscription to its donation and gives the
// donation any of the subscription's payments recorded before the two could
// be matched (an invoice paid before the checkout's completion arrived).
func (s *Store) attachSubscription(ctx context.Context, tx *sql.Tx, d Donation, subscriptionID string) error {
	if subscriptionID == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE donations SET subscription_id = ?, updated_at = ? WHERE id = ? AND subscription_id = ''`,
		subscriptionID, s.now(), d.ID); err != nil {
		return fmt.Errorf("attach subscription: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE donation_payments SET donation_id = ?, cause_id = ?
		WHERE subscription_id = ? AND donation_id IS NULL`, d.ID, d.CauseID, subscriptionID); err != nil {
		return fmt.Errorf("attach subscription payments: %w", err)
	}
	return nil
}

// setStatus moves a donation to status to, only from one of the statuses
// from: events can arrive in any order, and a later status never goes back.
func (s *Store) setStatus(ctx context.Context, tx *sql.Tx, id int64, to Status, from ...Status) error {
	q := `UPDATE donations SET status = ?, updated_at = ? WHERE id = ? AND status IN (?` + strings.Repeat(", ?", len(from)-1) + `)`
	args := []any{to, s.now(), id}
	for _, f := range from {
		args = append(args, f)
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("set donation status %s: %w", to, err)
	}
	return nil
}

// cancel marks a monthly donation as stopped.
func (s *Store) cancel(ctx context.Context, tx *sql.Tx, id int64) error {
	now := s.now()
	_, err := tx.ExecContext(ctx, `UPDATE donations SET status = ?, canceled_at = ?, updated_at = ? WHERE id = ? AND status <> ?`,
		StatusCanceled, now, now, id, StatusCanceled)
	if err != nil {
		return fmt.Errorf("cancel donation: %w", err)
	}
	return nil
}

// paid is a payment an event reports as paid.
type paid struct {
	StripeID        string // the invoice id, or the payment intent id
	PaymentIntentID string
	SubscriptionID  string
	Donation        *Donation // nil while unknown
	AmountMinor     int64
	Currency        string
	Email           string
	CustomerID      string
	PaidAt          time.Time
}

// donorKey identifies a donor for counting: the email's comparison key,
// else Stripe's customer, else the payment itself.
func (p paid) donorKey() string {
	if p.Email != "" {
		if e, err := notify.NormalizeEmail(p.Email); err == nil {
			return notify.EmailKey(e)
		}
	}
	if p.CustomerID != "" {
		return "customer:" + p.CustomerID
	}
	return "payment:" + p.StripeID
}

// recordPayment adds a paid payment to the ledger once: a second report of
// the same payment only fills in what the first one lacked.
func (s *Store) recordPayment(ctx context.Context, tx *sql.Tx, p paid) error {
	var donationID, causeID *int64
	if p.Donation != nil {
		donationID, causeID = &p.Donation.ID, &p.Donation.CauseID
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO donation_payments
		(stripe_id, payment_intent_id, subscription_id, donation_id, cause_id, amount_minor, currency, email, donor_key, paid_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (stripe_id) DO UPDATE SET
		payment_intent_id = CASE WHEN donation_payments.payment_intent_id = '' THEN excluded.payment_intent_id ELSE donation_payments.payment_intent_id END,
		donation_id = COALESCE(donation_payments.donation_id, excluded.donation_id),
		cause_id = COALESCE(donation_payments.cause_id, excluded.cause_id),
		email = CASE WHEN donation_payments.email = '' THEN excluded.email ELSE donation_payments.email END`,
		p.StripeID, p.PaymentIntentID, p.SubscriptionID, donationID, causeID, p.AmountMinor, strings.ToLower(p.Currency),
		p.Email, p.donorKey(), p.PaidAt.UTC(), s.now())
	if err != nil {
		return fmt.Errorf("record payment %s: %w", p.StripeID, err)
	}
	return nil
}

// recordRefund sets the amount refunded of a charge to what Stripe reports,
// never lowering it: a late, older event about a partial refund must not
// undo a full one.
func (s *Store) recordRefund(ctx context.Context, tx *sql.Tx, chargeID, paymentIntentID, invoiceID string, refundedMinor int64, cur string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO donation_refunds
		(charge_id, payment_intent_id, invoice_id, amount_refunded_minor, currency, updated_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (charge_id) DO UPDATE SET
		amount_refunded_minor = CASE WHEN excluded.amount_refunded_minor > donation_refunds.amount_refunded_minor
			THEN excluded.amount_refunded_minor ELSE donation_refunds.amount_refunded_minor END,
		payment_intent_id = CASE WHEN donation_refunds.payment_intent_id = '' THEN excluded.payment_intent_id ELSE donation_refunds.payment_intent_id END,
		invoice_id = CASE WHEN donation_refunds.invoice_id = '' THEN excluded.invoice_id ELSE donation_refunds.invoice_id END,
		updated_at = excluded.updated_at`,
		chargeID, paymentIntentID, invoiceID, refundedMinor, strings.ToLower(cur), s.now())
	if err != nil {
		return fmt.Errorf("record refund of %s: %w", chargeID, err)
	}
	return nil
}

// receipt is a payment whose thank-you email is not queued yet.
type receipt struct {
	PaymentID   int64
	DonationID  int64
	Email       string
	Lang        string
	AmountMinor int64
	Currency    string
	Monthly     bool
	PaidAt      time.Time
	StripeID    string
	CauseTitle  string
	CauseSlug   string
}

// dueReceipts returns the payments, tied to a donation, whose receipt is
// not queued yet.
func (s *Store) dueReceipts(ctx context.Context, tx *sql.Tx) ([]receipt, error) {
	rows, err := tx.QueryContext(ctx, `SELECT p.id, d.id, CASE WHEN p.email <> '' THEN p.email ELSE d.email END, d.lang,
		p.amount_minor, p.currency, d.monthly, p.paid_at, p.stripe_id, c.title, c.slug
		FROM donation_payments p JOIN donations d ON d.id = p.donation_id JOIN causes c ON c.id = d.cause_id
		WHERE p.receipt_queued_at IS NULL ORDER BY p.id`)
	if err != nil {
		return nil, fmt.Errorf("due receipts: %w", err)
	}
	defer rows.Close()
	var out []receipt
	for rows.Next() {
		var r receipt
		if err := rows.Scan(&r.PaymentID, &r.DonationID, &r.Email, &r.Lang, &r.AmountMinor, &r.Currency, &r.Monthly,
			&r.PaidAt, &r.StripeID, &r.CauseTitle, &r.CauseSlug); err != nil {
			return nil, fmt.Errorf("due receipts: %w", err)
		}
		r.PaidAt = r.PaidAt.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due receipts: %w", err)
	}
	return out, nil
}

func (s *Store) receiptQueued(ctx context.Context, tx *sql.Tx, paymentID int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE donation_payments SET receipt_queued_at = ? WHERE id = ?`, s.now(), paymentID); err != nil {
		return fmt.Errorf("mark receipt queued: %w", err)
	}
	return nil
}

// newCancelToken stores a fresh link token that stops the donation and
// returns it; only its hash is kept.
func (s *Store) newCancelToken(ctx context.Context, tx *sql.Tx, donationID int64) (string, error) {
	token := rand.Text()
	if _, err := tx.ExecContext(ctx, `INSERT INTO donation_cancel_tokens (token_hash, donation_id, created_at) VALUES (?, ?, ?)`,
		notify.HashToken(token), donationID, s.now()); err != nil {
		return "", fmt.Errorf("store cancel link: %w", err)
	}
	return token, nil
}
