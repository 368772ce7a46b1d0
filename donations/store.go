package donations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/rallyhq/rally/notify"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the package's numbered .sql migrations. They refer to
// the causes and supporters tables, so they run after campaigns' own.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("not found")

// Store holds all of the package's SQL. Writes go through the single writer
// connection; reads use the reader pool.
type Store struct {
	w, r     *sql.DB
	now      func() time.Time
	currency string
	totals   totalsCache
}

// NewStore returns a Store writing through writer and reading through reader.
func NewStore(writer, reader *sql.DB) *Store {
	return &Store{w: writer, r: reader, now: func() time.Time { return time.Now().UTC() }, currency: "eur",
		totals: totalsCache{m: map[int64]Totals{}}}
}

// SetClock replaces the store's clock; tests use it.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// totalsCache remembers each cause's totals until the ledger changes: the
// cause page asks for them on every view, the ledger changes a few times a
// day. gen makes a computation that raced with a change not be kept.
type totalsCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[int64]Totals
}

func (c *totalsCache) get(id int64) (Totals, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[id]
	return t, c.gen, ok
}

func (c *totalsCache) put(id int64, gen uint64, t Totals) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.m[id] = t
	}
}

func (c *totalsCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

// refundedSQL is the amount refunded of the payment p, matched by payment
// intent (how Stripe's charges point at what they paid) or by invoice.
const refundedSQL = `(SELECT COALESCE(SUM(r.amount_refunded_minor), 0) FROM donation_refunds r
	WHERE (r.payment_intent_id = p.payment_intent_id AND r.payment_intent_id <> '')
	   OR (r.invoice_id = p.stripe_id AND r.invoice_id <> ''))`

// Totals returns what the cause has raised in the configured currency:
// the total net of refunds, the number of payments not wholly refunded
// (each monthly payment counts) and of distinct donors, and the goal if the
// organiser set one.
func (s *Store) Totals(ctx context.Context, causeID int64) (Totals, error) {
	t, gen, ok := s.totals.get(causeID)
	if ok {
		return t, nil
	}
	t = Totals{Currency: s.currency}
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(net), 0), COUNT(*), COUNT(DISTINCT donor_key) FROM (
		SELECT p.donor_key, p.amount_minor - `+refundedSQL+` AS net
		FROM donation_payments p WHERE p.cause_id = ? AND p.currency = ?) AS paid
		WHERE net > 0`, causeID, s.currency).Scan(&t.TotalMinor, &t.Count, &t.Donors)
	if err != nil {
		return Totals{}, fmt.Errorf("donation totals: %w", err)
	}
	err = s.r.QueryRowContext(ctx, `SELECT goal_minor FROM donation_goals WHERE cause_id = ? AND currency = ?`,
		causeID, s.currency).Scan(&t.GoalMinor)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Totals{}, fmt.Errorf("donation goal: %w", err)
	}
	s.totals.put(causeID, gen, t)
	return t, nil
}

// ActiveMonthly counts the cause's monthly gifts that are running.
func (s *Store) ActiveMonthly(ctx context.Context, causeID int64) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM donations WHERE cause_id = ? AND monthly = 1 AND status = ?`,
		causeID, StatusActive).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count monthly donations: %w", err)
	}
	return n, nil
}

// Payments returns the cause's ledger, newest first; limit 0 means all.
func (s *Store) Payments(ctx context.Context, causeID int64, limit int) ([]Payment, error) {
	q := `SELECT p.id, p.stripe_id, p.payment_intent_id, p.subscription_id, p.donation_id, p.amount_minor, ` + refundedSQL + `,
		p.currency, CASE WHEN p.email <> '' THEN p.email ELSE COALESCE(d.email, '') END, p.paid_at
		FROM donation_payments p LEFT JOIN donations d ON d.id = p.donation_id
		WHERE p.cause_id = ? ORDER BY p.paid_at DESC, p.id DESC`
	args := []any{causeID}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	defer rows.Close()
	var out []Payment
	for rows.Next() {
		var p Payment
		var donationID sql.NullInt64
		if err := rows.Scan(&p.ID, &p.StripeID, &p.PaymentIntentID, &p.SubscriptionID, &donationID, &p.AmountMinor,
			&p.RefundedMinor, &p.Currency, &p.Email, &p.PaidAt); err != nil {
			return nil, fmt.Errorf("list payments: %w", err)
		}
		if donationID.Valid {
			p.DonationID = &donationID.Int64
		}
		p.PaidAt = p.PaidAt.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	return out, nil
}

// SetGoal sets the cause's fundraising goal; 0 removes it.
func (s *Store) SetGoal(ctx context.Context, causeID, goalMinor int64) error {
	var err error
	if goalMinor <= 0 {
		_, err = s.w.ExecContext(ctx, `DELETE FROM donation_goals WHERE cause_id = ?`, causeID)
	} else {
		_, err = s.w.ExecContext(ctx, `INSERT INTO donation_goals (cause_id, goal_minor, currency, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (cause_id) DO UPDATE SET goal_minor = excluded.goal_minor, currency = excluded.currency,
			updated_at = excluded.updated_at`, causeID, goalMinor, s.currency, s.now())
	}
	if err != nil {
		return fmt.Errorf("set donation goal: %w", err)
	}
	s.totals.invalidate()
	return nil
}

// createDonation writes a donation in status created and sets its ID. It
// claims no money: only webhook events add to the ledger.
func (s *Store) createDonation(ctx context.Context, d *Donation) error {
	now := s.now()
	err := s.w.QueryRowContext(ctx, `INSERT INTO donations
		(ref, cause_id, supporter_id, email, lang, amount_minor, currency, monthly, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.Ref, d.CauseID, d.SupporterID, d.Email, d.Lang, d.AmountMinor, d.Currency, d.Monthly, StatusCreated, now, now).Scan(&d.ID)
	if err != nil {
		return fmt.Errorf("create donation: %w", err)
	}
	d.Status, d.CreatedAt = StatusCreated, now
	return nil
}

// checkoutStarted records the Checkout Session a donor was sent to.
func (s *Store) checkoutStarted(ctx context.Context, id int64, sessionID string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE donations SET checkout_session_id = ?, status = ?, updated_at = ?
		WHERE id = ? AND status = ?`, sessionID, StatusOpen, s.now(), id, StatusCreated)
	if err != nil {
		return fmt.Errorf("record checkout session: %w", err)
	}
	return nil
}

// checkoutFailed marks a donation whose session Stripe did not create.
func (s *Store) checkoutFailed(ctx context.Context, id int64) error {
	_, err := s.w.ExecContext(ctx, `UPDATE donations SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
		StatusError, s.now(), id, StatusCreated)
	if err != nil {
		return fmt.Errorf("record checkout failure: %w", err)
	}
	return nil
}

// supporterByEmail returns the id of the supporter with this address (by
// its comparison key, notify.EmailKey), or ErrNotFound.
func (s *Store) supporterByEmail(ctx context.Context, key string) (int64, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, `SELECT id FROM supporters WHERE email_key = ?`, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("find supporter: %w", err)
	}
	return id, nil
}

// donationColumns are a donation's columns, for a query that names the
// donations table d.
const donationColumns = `d.id, d.ref, d.cause_id, d.supporter_id, d.email, d.lang, d.amount_minor, d.currency, d.monthly,
	d.status, d.checkout_session_id, d.customer_id, d.subscription_id, d.created_at, d.canceled_at`

type scanner interface{ Scan(dest ...any) error }

// scanDonation reads donationColumns, then any extra columns into extra.
func scanDonation(row scanner, extra ...any) (Donation, error) {
	var d Donation
	var supporter sql.NullInt64
	var canceled sql.NullTime
	err := row.Scan(append([]any{&d.ID, &d.Ref, &d.CauseID, &supporter, &d.Email, &d.Lang, &d.AmountMinor, &d.Currency,
		&d.Monthly, &d.Status, &d.SessionID, &d.CustomerID, &d.SubscriptionID, &d.CreatedAt, &canceled}, extra...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return Donation{}, ErrNotFound
	}
	if err != nil {
		return Donation{}, err
	}
	if supporter.Valid {
		d.SupporterID = &supporter.Int64
	}
	if canceled.Valid {
		t := canceled.Time.UTC()
		d.CanceledAt = &t
	}
	d.CreatedAt = d.CreatedAt.UTC()
	return d, nil
}

// donationByCancelToken returns the donation a receipt's cancel link points
// at, with its cause's title and slug.
func (s *Store) donationByCancelToken(ctx context.Context, token string) (d Donation, title, slug string, err error) {
	d, err = scanDonation(s.r.QueryRowContext(ctx, `SELECT `+donationColumns+`, c.title, c.slug
		FROM donation_cancel_tokens t JOIN donations d ON d.id = t.donation_id JOIN causes c ON c.id = d.cause_id
		WHERE t.token_hash = ?`, notify.HashToken(token)), &title, &slug)
	if err != nil {
		return Donation{}, "", "", fmt.Errorf("find donation by cancel link: %w", err)
	}
	return d, title, slug, nil
}

// monthlyCanceled records that a monthly donation was stopped.
func (s *Store) monthlyCanceled(ctx context.Context, id int64) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cancel donation: %w", err)
	}
	defer tx.Rollback()
	if err := s.cancel(ctx, tx, id); err != nil {
		return fmt.Errorf("cancel donation: %w", err)
	}
	return tx.Commit()
}
