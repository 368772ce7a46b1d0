// Package donations takes money for causes through Stripe Checkout, one-off
// or monthly, and keeps a ledger of what was paid and refunded from Stripe's
// verified webhook events.
//
// The flow: the donate form posts to /c/{slug}/donate; Rally writes a
// donation row under its own reference, then (with no transaction open)
// creates a Checkout Session carrying that reference, and answers 303 to
// Stripe's page. Money only enters the ledger when a signed webhook event says
// it was paid: each payment keyed by Stripe's id for it, refunds kept as the
// cumulative amount per charge, every event id stored in the same transaction
// as its effects.
package donations

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rallyhq/rally/templates"
)

// Config is the Stripe side of Rally's configuration.
type Config struct {
	SecretKey     string // STRIPE_SECRET_KEY
	WebhookSecret string // STRIPE_WEBHOOK_SECRET
	APIBase       string // STRIPE_API_BASE; empty for Stripe's own
	Currency      string // RALLY_CURRENCY, lower case; empty means eur
	BaseURL       string // RALLY_BASE_URL, for the URLs Stripe sends donors back to
}

// Enabled reports whether donations are on: both Stripe keys are set.
func (c Config) Enabled() bool { return c.SecretKey != "" && c.WebhookSecret != "" }

// Validate reports a configuration that cannot work: one Stripe key without
// the other, or a currency Rally cannot take.
func (c Config) Validate() error {
	if (c.SecretKey == "") != (c.WebhookSecret == "") {
		return errors.New("donations: set both STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, or neither")
	}
	if _, ok := currencies[c.currency()]; !ok {
		return fmt.Errorf("donations: RALLY_CURRENCY %q is not supported; use one of %s", c.Currency, supportedCurrencies())
	}
	return nil
}

func (c Config) currency() string {
	if c.Currency == "" {
		return "eur"
	}
	return strings.ToLower(c.Currency)
}

// currency describes how Rally takes and shows money in one currency.
// Amounts are in minor units, as Stripe counts them.
type currency struct {
	decimals int     // digits after the decimal point: 2, or 0 for yen
	symbol   string  // shown before the amount in English, after it in French
	min, max int64   // bounds of one gift
	presets  []int64 // the amounts offered on the form
}

// currencies are those Rally takes. Zero-decimal currencies (jpy) are
// counted in whole units, as Stripe does; three-decimal ones are left out.
var currencies = map[string]currency{
	"eur": {2, "€", 100, 1_000_000, []int64{500, 1000, 2500, 5000}},
	"usd": {2, "$", 100, 1_000_000, []int64{500, 1000, 2500, 5000}},
	"gbp": {2, "£", 100, 1_000_000, []int64{500, 1000, 2500, 5000}},
	"chf": {2, "CHF", 100, 1_000_000, []int64{500, 1000, 2500, 5000}},
	"cad": {2, "CA$", 100, 1_000_000, []int64{500, 1000, 2500, 5000}},
	"aud": {2, "A$", 100, 1_000_000, []int64{500, 1000, 2500, 5000}},
	"jpy": {0, "¥", 100, 1_500_000, []int64{500, 1000, 3000, 5000}},
}

func supportedCurrencies() string {
	return strings.Join(slices.Sorted(maps.Keys(currencies)), ", ")
}

// Errors ParseAmount returns; each has a sentence in the catalogue.
var (
	ErrAmountFormat   = errors.New("amount is not a number")
	ErrAmountDecimals = errors.New("amount has too many decimals")
	ErrAmountTooSmall = errors.New("amount is below the minimum")
	ErrAmountTooLarge = errors.New("amount is above the maximum")
)

// ParseAmount reads an amount typed in the currency's major unit ("10",
// "12.50", "12,50", "1 000,50", "€12.50") and returns it in minor units,
// within the bounds of one gift.
func ParseAmount(s, cur string) (int64, error) {
	info, ok := currencies[cur]
	if !ok {
		return 0, fmt.Errorf("currency %q: %w", cur, ErrAmountFormat)
	}
	minor, err := parseMinor(s, info)
	if err != nil {
		return 0, err
	}
	switch {
	case minor < info.min:
		return 0, ErrAmountTooSmall
	case minor > info.max:
		return 0, ErrAmountTooLarge
	}
	return minor, nil
}

// parseMinor converts a positive decimal number in major units to minor
// units. A single separator followed by three digits ("1,000", "1.000") is
// refused as too many decimals rather than guessed at: it groups thousands
// in one language and is a decimal point in another.
func parseMinor(s string, info currency) (int64, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, info.symbol)
	s = strings.TrimSuffix(s, info.symbol)
	// Spaces group thousands in French, including the no-break ones.
	s = strings.NewReplacer(" ", "", "\u00a0", "", "\u202f", "").Replace(s)
	if s == "" || len(s) > 20 {
		return 0, ErrAmountFormat
	}
	intPart, frac := s, ""
	if i := strings.LastIndexAny(s, ".,"); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
		other := "."
		if s[i] == '.' {
			other = ","
		}
		if strings.Contains(intPart, string(s[i])) {
			// The last separator appears twice: "1.000.000" groups thousands.
			return 0, ErrAmountFormat
		}
		if strings.Contains(intPart, other) {
			// "1,000.50" or "1.000,50": the other separator groups thousands.
			groups := strings.Split(intPart, other)
			for j, g := range groups {
				if (j == 0 && (len(g) < 1 || len(g) > 3)) || (j > 0 && len(g) != 3) {
					return 0, ErrAmountFormat
				}
			}
			intPart = strings.Join(groups, "")
		} else if len(frac) == 3 {
			return 0, ErrAmountDecimals
		}
		if frac == "" {
			return 0, ErrAmountFormat
		}
	}
	if intPart == "" {
		intPart = "0"
	}
	if !digits(intPart) || !digits(frac) {
		return 0, ErrAmountFormat
	}
	if len(frac) > info.decimals {
		return 0, ErrAmountDecimals
	}
	if len(intPart) > 12 {
		return 0, ErrAmountTooLarge
	}
	var minor int64
	for _, r := range intPart {
		minor = minor*10 + int64(r-'0')
	}
	for i := 0; i < info.decimals; i++ {
		minor *= 10
		if i < len(frac) {
			minor += int64(frac[i] - '0')
		}
	}
	return minor, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// formatMoney writes minor units of cur the way lang writes money: €1,234.50
// in English, 1 234,50 € in French. Whole amounts drop their decimals.
func formatMoney(cat *templates.Catalogue, lang string, minor int64, cur string) string {
	info, ok := currencies[cur]
	if !ok {
		return fmt.Sprintf("%d %s", minor, strings.ToUpper(cur))
	}
	neg := minor < 0
	if neg {
		minor = -minor
	}
	unit := int64(1)
	for i := 0; i < info.decimals; i++ {
		unit *= 10
	}
	num := cat.Number(lang, minor/unit)
	if rest := minor % unit; rest != 0 {
		sep := "."
		if lang == "fr" {
			sep = ","
		}
		num += sep + fmt.Sprintf("%0*d", info.decimals, rest)
	}
	if neg {
		num = "−" + num
	}
	if lang == "fr" {
		return num + "\u00a0" + info.symbol
	}
	if info.symbol == strings.ToUpper(cur) {
		// A code such as CHF stands apart from the number.
		return info.symbol + "\u00a0" + num
	}
	return info.symbol + num
}

// formatMajor writes minor units as a plain number a form accepts back:
// 1250 → "12.50", 1000 → "10".
func formatMajor(minor int64, cur string) string {
	info := currencies[cur]
	if info.decimals == 0 {
		return fmt.Sprint(minor)
	}
	if minor%100 == 0 {
		return fmt.Sprint(minor / 100)
	}
	return fmt.Sprintf("%d.%02d", minor/100, minor%100)
}

// Status is where a donation (one Checkout attempt) is.
type Status string

// The statuses of a donation.
const (
	StatusCreated    Status = "created"    // row written, Checkout Session not created yet
	StatusOpen       Status = "open"       // the donor was sent to Checkout
	StatusProcessing Status = "processing" // checkout done, a delayed payment method is still settling
	StatusPaid       Status = "paid"       // a one-off gift was paid
	StatusActive     Status = "active"     // a monthly gift is running
	StatusFailed     Status = "failed"     // the delayed payment failed
	StatusExpired    Status = "expired"    // the donor left Checkout without paying
	StatusCanceled   Status = "canceled"   // a monthly gift was stopped
	StatusError      Status = "error"      // Stripe could not be reached; nothing was charged
)

// Donation is one Checkout attempt: what the donor asked to give.
type Donation struct {
	ID             int64
	Ref            string
	CauseID        int64
	SupporterID    *int64
	Email          string
	Lang           string
	AmountMinor    int64
	Currency       string
	Monthly        bool
	Status         Status
	SessionID      string
	CustomerID     string
	SubscriptionID string
	CreatedAt      time.Time
	CanceledAt     *time.Time
}

// Payment is one ledger entry: money Stripe reported as paid, with what has
// been refunded of it since.
type Payment struct {
	ID              int64
	StripeID        string // invoice id of a monthly gift, payment intent id of a one-off one
	PaymentIntentID string
	SubscriptionID  string
	DonationID      *int64
	AmountMinor     int64
	RefundedMinor   int64
	Currency        string
	Email           string
	PaidAt          time.Time
}

// Monthly reports whether the payment is part of a monthly gift.
func (p Payment) Monthly() bool { return p.SubscriptionID != "" }

// NetMinor is what the payment brought in after refunds.
func (p Payment) NetMinor() int64 {
	if p.RefundedMinor >= p.AmountMinor {
		return 0
	}
	return p.AmountMinor - p.RefundedMinor
}

// Totals is what a cause has raised in the configured currency. It is the
// "donations" object of the cause's public JSON.
type Totals struct {
	Currency   string `json:"currency"`
	TotalMinor int64  `json:"total_minor"` // net of refunds
	Count      int64  `json:"count"`       // paid payments not fully refunded; each monthly payment counts
	Donors     int64  `json:"donors"`      // distinct people among them
	GoalMinor  int64  `json:"goal_minor,omitempty"`
}
