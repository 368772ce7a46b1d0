package donations

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/rallyhq/rally/notify"
)

// Personal is donations' part of what Rally holds on a person (see
// campaigns.PersonalData): their donations and the payments Stripe
// reported. A deletion keeps each row for the cause's accounts with only
// Stripe's ids: the address, the link to the supporter and the donor key
// made of the address go.
type Personal struct{ s *Store }

// Personal returns the store's part of a person's data.
func (s *Store) Personal() Personal { return Personal{s} }

// keyOf returns the comparison key of an address as typed, or "".
func keyOf(email string) string {
	if email == "" {
		return ""
	}
	n, err := notify.NormalizeEmail(email)
	if err != nil {
		return ""
	}
	return notify.EmailKey(n)
}

// donationIDs returns the donations of the person with comparison key
// key: made with the address, or by their supporter. Addresses are kept as
// typed, without a key, so the table is read once: donations are few next
// to signatures.
func (p Personal) donationIDs(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, key string) ([]int64, []string, error) {
	rows, err := q.QueryContext(ctx, `SELECT d.id, d.email, coalesce(s.email_key, '') FROM donations d
		LEFT JOIN supporters s ON s.id = d.supporter_id WHERE d.email <> '' OR d.supporter_id IS NOT NULL`)
	if err != nil {
		return nil, nil, fmt.Errorf("find donations: %w", err)
	}
	defer rows.Close()
	var ids []int64
	var emails []string
	for rows.Next() {
		var id int64
		var email, supporterKey string
		if err := rows.Scan(&id, &email, &supporterKey); err != nil {
			return nil, nil, fmt.Errorf("find donations: %w", err)
		}
		if supporterKey == key || keyOf(email) == key {
			ids = append(ids, id)
			if email != "" && !slices.Contains(emails, email) {
				emails = append(emails, email)
			}
		}
	}
	return ids, emails, rows.Err()
}

// paymentIDs returns the payments of the person: of their donations, or
// counted under their key.
func (p Personal) paymentIDs(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, key string, donations []int64) ([]int64, []string, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, donation_id, email, donor_key FROM donation_payments`)
	if err != nil {
		return nil, nil, fmt.Errorf("find payments: %w", err)
	}
	defer rows.Close()
	var ids []int64
	var emails []string
	for rows.Next() {
		var id int64
		var donation sql.NullInt64
		var email, donor string
		if err := rows.Scan(&id, &donation, &email, &donor); err != nil {
			return nil, nil, fmt.Errorf("find payments: %w", err)
		}
		if donor == key || keyOf(email) == key || (donation.Valid && slices.Contains(donations, donation.Int64)) {
			ids = append(ids, id)
			if email != "" && !slices.Contains(emails, email) {
				emails = append(emails, email)
			}
		}
	}
	return ids, emails, rows.Err()
}

// AddressesOf returns the addresses the person gave for donations, or
// Stripe reported, as typed.
func (p Personal) AddressesOf(ctx context.Context, key string) ([]string, error) {
	ids, emails, err := p.donationIDs(ctx, p.s.r, key)
	if err != nil {
		return nil, err
	}
	_, more, err := p.paymentIDs(ctx, p.s.r, key, ids)
	if err != nil {
		return nil, err
	}
	for _, e := range more {
		if !slices.Contains(emails, e) {
			emails = append(emails, e)
		}
	}
	return emails, nil
}

// DonationRecord is one donation in a person's export.
type DonationRecord struct {
	Cause       string     `json:"cause"`
	AmountMinor int64      `json:"amount_minor"`
	Currency    string     `json:"currency"`
	Monthly     bool       `json:"monthly"`
	Status      string     `json:"status"`
	Email       string     `json:"email"`
	CreatedAt   time.Time  `json:"created_at"`
	CanceledAt  *time.Time `json:"canceled_at,omitempty"`
}

// PaymentRecord is one payment in a person's export.
type PaymentRecord struct {
	Cause         string    `json:"cause"`
	AmountMinor   int64     `json:"amount_minor"`
	RefundedMinor int64     `json:"refunded_minor"`
	Currency      string    `json:"currency"`
	Email         string    `json:"email"`
	StripeID      string    `json:"stripe_id"`
	PaidAt        time.Time `json:"paid_at"`
}

// ExportPerson returns the person's donations and payments.
func (p Personal) ExportPerson(ctx context.Context, key string, emails []string) (map[string]any, error) {
	ids, _, err := p.donationIDs(ctx, p.s.r, key)
	if err != nil {
		return nil, err
	}
	donations := []DonationRecord{}
	for _, id := range ids {
		var r DonationRecord
		var canceled sql.NullTime
		if err := p.s.r.QueryRowContext(ctx, `SELECT c.slug, d.amount_minor, d.currency, d.monthly, d.status, d.email,
			d.created_at, d.canceled_at FROM donations d JOIN causes c ON c.id = d.cause_id WHERE d.id = ?`, id).
			Scan(&r.Cause, &r.AmountMinor, &r.Currency, &r.Monthly, &r.Status, &r.Email, &r.CreatedAt, &canceled); err != nil {
			return nil, fmt.Errorf("export donations: %w", err)
		}
		if canceled.Valid {
			t := canceled.Time.UTC()
			r.CanceledAt = &t
		}
		donations = append(donations, r)
	}
	pids, _, err := p.paymentIDs(ctx, p.s.r, key, ids)
	if err != nil {
		return nil, err
	}
	payments := []PaymentRecord{}
	for _, id := range pids {
		var r PaymentRecord
		if err := p.s.r.QueryRowContext(ctx, `SELECT coalesce(c.slug, ''), p.amount_minor, coalesce((SELECT sum(f.amount_refunded_minor)
			FROM donation_refunds f WHERE (f.payment_intent_id <> '' AND f.payment_intent_id = p.payment_intent_id)
				OR (f.invoice_id <> '' AND f.invoice_id = p.stripe_id)), 0), p.currency, p.email, p.stripe_id, p.paid_at
			FROM donation_payments p LEFT JOIN causes c ON c.id = p.cause_id WHERE p.id = ?`, id).
			Scan(&r.Cause, &r.AmountMinor, &r.RefundedMinor, &r.Currency, &r.Email, &r.StripeID, &r.PaidAt); err != nil {
			return nil, fmt.Errorf("export payments: %w", err)
		}
		payments = append(payments, r)
	}
	return map[string]any{"donations": donations, "payments": payments}, nil
}

// ForgetPerson keeps the person's donations and payments for the cause's
// accounts with Stripe's ids only: their address goes, and so does the
// donor key made of it (each donation, or each payment without one, then
// counts as a donor of its own).
func (p Personal) ForgetPerson(ctx context.Context, tx *sql.Tx, key string, emails []string, now time.Time) error {
	ids, _, err := p.donationIDs(ctx, tx, key)
	if err != nil {
		return err
	}
	pids, _, err := p.paymentIDs(ctx, tx, key, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE donations SET email = '', supporter_id = NULL, updated_at = ? WHERE id = ?`,
			now, id); err != nil {
			return fmt.Errorf("forget donations: %w", err)
		}
	}
	for _, id := range pids {
		if _, err := tx.ExecContext(ctx, `UPDATE donation_payments SET email = '',
			donor_key = CASE WHEN donation_id IS NOT NULL THEN 'forgotten:d' || donation_id ELSE 'forgotten:p' || id END
			WHERE id = ?`, id); err != nil {
			return fmt.Errorf("forget payments: %w", err)
		}
	}
	if len(ids) > 0 || len(pids) > 0 {
		p.s.totals.invalidate()
	}
	return nil
}
