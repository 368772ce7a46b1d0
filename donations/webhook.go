package donations

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// maxWebhookBody bounds a Stripe event; real ones are a few kilobytes.
const maxWebhookBody = 1 << 20

// webhook receives Stripe's events at POST /webhooks/stripe.
//
// The signature is checked against STRIPE_WEBHOOK_SECRET with Stripe's
// 5-minute timestamp tolerance; anything unsigned, forged or stale gets 400
// and writes nothing. Each event is applied at most once (its id is stored
// with its effects) and the answer comes as soon as the transaction commits.
//
// API versions: Rally does not refuse an event whose api_version differs
// from stripe-go's (2023-10-16). Refusing would make Stripe retry it for days
// and lose it in the end, and an endpoint created by `stripe listen` or the
// dashboard uses the account's version, not the library's. Instead Rally
// decodes only the few fields it uses into its own structs, reads the ones
// newer versions moved from both places (an invoice's subscription and its
// metadata under parent.subscription_details), and logs a warning once per
// version. Create the production endpoint with API version 2023-10-16 to
// keep refunds of monthly payments matched: newer versions no longer put the
// payment intent on invoices.
func (h *Handler) webhook(c *gin.Context) {
	if !h.cfg.Enabled() {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxWebhookBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			c.AbortWithStatus(http.StatusRequestEntityTooLarge)
			return
		}
		c.AbortWithStatus(http.StatusBadRequest)
		return
	}
	ev, err := webhook.ConstructEventWithOptions(body, c.GetHeader("Stripe-Signature"), h.cfg.WebhookSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil || ev.ID == "" {
		slog.Warn("stripe webhook refused", slog.String("remote", c.ClientIP()), slog.Any("error", err))
		c.AbortWithStatus(http.StatusBadRequest)
		return
	}
	h.noteAPIVersion(ev.APIVersion)
	apply, err := h.effects(ev)
	if err != nil {
		// A signed event Rally cannot read will not read better on a retry.
		slog.Error("stripe event not understood", slog.String("event", ev.ID), slog.String("type", string(ev.Type)), slog.Any("error", err))
		c.JSON(http.StatusOK, gin.H{"received": true})
		return
	}
	if apply == nil {
		c.JSON(http.StatusOK, gin.H{"received": true})
		return
	}
	// Once started, the work finishes even if Stripe hangs up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 15*time.Second)
	defer cancel()
	if _, err := h.store.processEvent(ctx, ev.ID, string(ev.Type), ev.APIVersion, apply); err != nil {
		// Stripe retries on 5xx: the event was not recorded, so it will apply then.
		templates.Fail(c, err)
		return
	}
	// The cause pages and JSON show the totals: they show this event now.
	h.causes.CausesChanged()
	c.JSON(http.StatusOK, gin.H{"received": true})
}

func (h *Handler) noteAPIVersion(v string) {
	if v == stripe.APIVersion {
		return
	}
	if _, seen := h.versionsSeen.LoadOrStore(v, true); !seen {
		slog.Warn("stripe event API version differs from the library's; reading only the fields Rally uses",
			slog.String("event_version", v), slog.String("library_version", stripe.APIVersion))
	}
}

// stripeRef is an id in an event: a string, or an expanded object's id.
type stripeRef string

func (r *stripeRef) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = stripeRef(s)
		return nil
	}
	var o struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*r = stripeRef(o.ID)
	return nil
}

// The fields Rally reads from each kind of object.
type (
	checkoutSession struct {
		ID                string            `json:"id"`
		Mode              string            `json:"mode"`
		PaymentStatus     string            `json:"payment_status"`
		ClientReferenceID string            `json:"client_reference_id"`
		Metadata          map[string]string `json:"metadata"`
		AmountTotal       int64             `json:"amount_total"`
		Currency          string            `json:"currency"`
		PaymentIntent     stripeRef         `json:"payment_intent"`
		Subscription      stripeRef         `json:"subscription"`
		Customer          stripeRef         `json:"customer"`
		CustomerEmail     string            `json:"customer_email"`
		CustomerDetails   *struct {
			Email string `json:"email"`
		} `json:"customer_details"`
	}
	subscriptionDetails struct {
		Subscription stripeRef         `json:"subscription"`
		Metadata     map[string]string `json:"metadata"`
	}
	invoice struct {
		ID                  string               `json:"id"`
		AmountPaid          int64                `json:"amount_paid"`
		Currency            string               `json:"currency"`
		Subscription        stripeRef            `json:"subscription"`
		PaymentIntent       stripeRef            `json:"payment_intent"`
		Customer            stripeRef            `json:"customer"`
		CustomerEmail       string               `json:"customer_email"`
		SubscriptionDetails *subscriptionDetails `json:"subscription_details"`
		Parent              *struct {
			SubscriptionDetails *subscriptionDetails `json:"subscription_details"`
		} `json:"parent"`
		StatusTransitions struct {
			PaidAt int64 `json:"paid_at"`
		} `json:"status_transitions"`
	}
	charge struct {
		ID             string    `json:"id"`
		AmountRefunded int64     `json:"amount_refunded"`
		Currency       string    `json:"currency"`
		PaymentIntent  stripeRef `json:"payment_intent"`
		Invoice        stripeRef `json:"invoice"`
	}
	subscription struct {
		ID       string            `json:"id"`
		Metadata map[string]string `json:"metadata"`
	}
)

// effects decodes an event and returns what it does to the ledger, to run
// inside the event's transaction; nil for the types Rally ignores.
func (h *Handler) effects(ev stripe.Event) (func(context.Context, *sql.Tx) error, error) {
	if ev.Data == nil {
		return nil, errors.New("event without data")
	}
	at := time.Unix(ev.Created, 0).UTC()
	if ev.Created == 0 {
		at = h.store.now()
	}
	var apply func(context.Context, *sql.Tx) error
	switch ev.Type {
	case stripe.EventTypeCheckoutSessionCompleted, stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded,
		stripe.EventTypeCheckoutSessionAsyncPaymentFailed, stripe.EventTypeCheckoutSessionExpired:
		var s checkoutSession
		if err := json.Unmarshal(ev.Data.Raw, &s); err != nil {
			return nil, err
		}
		apply = func(ctx context.Context, tx *sql.Tx) error { return h.applySession(ctx, tx, ev.Type, s, at) }
	case stripe.EventTypeInvoicePaid:
		var inv invoice
		if err := json.Unmarshal(ev.Data.Raw, &inv); err != nil {
			return nil, err
		}
		apply = func(ctx context.Context, tx *sql.Tx) error { return h.applyInvoice(ctx, tx, inv, at) }
	case stripe.EventTypeChargeRefunded:
		var ch charge
		if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil {
			return nil, err
		}
		if ch.ID == "" {
			return nil, errors.New("charge without id")
		}
		apply = func(ctx context.Context, tx *sql.Tx) error {
			return h.store.recordRefund(ctx, tx, ch.ID, string(ch.PaymentIntent), string(ch.Invoice), ch.AmountRefunded, ch.Currency)
		}
	case stripe.EventTypeCustomerSubscriptionDeleted:
		var sub subscription
		if err := json.Unmarshal(ev.Data.Raw, &sub); err != nil {
			return nil, err
		}
		apply = func(ctx context.Context, tx *sql.Tx) error { return h.applySubscriptionDeleted(ctx, tx, sub) }
	default:
		return nil, nil
	}
	return apply, nil
}

// findDonation returns the donation an object's reference or metadata
// names, then the one holding its subscription; ErrNotFound when the object
// is not Rally's.
func (h *Handler) findDonation(ctx context.Context, tx *sql.Tx, ref, subscriptionID string) (Donation, error) {
	if ref != "" {
		d, err := h.store.donationByRef(ctx, tx, ref)
		if !errors.Is(err, ErrNotFound) {
			return d, err
		}
	}
	if subscriptionID != "" {
		return h.store.donationBySubscription(ctx, tx, subscriptionID)
	}
	return Donation{}, ErrNotFound
}

func (h *Handler) applySession(ctx context.Context, tx *sql.Tx, typ stripe.EventType, s checkoutSession, at time.Time) error {
	ref := s.ClientReferenceID
	if ref == "" {
		ref = s.Metadata["donation"]
	}
	d, err := h.findDonation(ctx, tx, ref, "")
	if errors.Is(err, ErrNotFound) {
		slog.Info("stripe checkout session is not Rally's; ignored", slog.String("session", s.ID))
		return nil
	}
	if err != nil {
		return err
	}
	email := s.CustomerEmail
	if s.CustomerDetails != nil && s.CustomerDetails.Email != "" {
		email = s.CustomerDetails.Email
	}
	if err := h.store.checkoutDetails(ctx, tx, d.ID, s.ID, string(s.Customer), email); err != nil {
		return err
	}
	monthly := d.Monthly || s.Mode == "subscription"
	paidNow := typ == stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded ||
		(typ == stripe.EventTypeCheckoutSessionCompleted && s.PaymentStatus == "paid")
	switch {
	case monthly && (typ == stripe.EventTypeCheckoutSessionCompleted || typ == stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded):
		// Monthly money enters the ledger through invoice.paid, the first
		// payment included; the session only ties the subscription to the
		// donation.
		if err := h.store.attachSubscription(ctx, tx, d, string(s.Subscription)); err != nil {
			return err
		}
	case !monthly && paidNow && s.AmountTotal > 0:
		key := string(s.PaymentIntent)
		if key == "" {
			key = "checkout:" + s.ID
		}
		if err := h.store.recordPayment(ctx, tx, paid{StripeID: key, PaymentIntentID: string(s.PaymentIntent), Donation: &d,
			AmountMinor: s.AmountTotal, Currency: s.Currency, Email: email, CustomerID: string(s.Customer), PaidAt: at}); err != nil {
			return err
		}
	}
	to, from := sessionTransition(typ, monthly, paidNow)
	if err := h.store.setStatus(ctx, tx, d.ID, to, from...); err != nil {
		return err
	}
	return h.queueReceipts(ctx, tx)
}

// sessionTransition is the status a Checkout Session event moves its
// donation to, and the statuses it may move it from: events arrive in any
// order, and a donation never goes back.
func sessionTransition(typ stripe.EventType, monthly, paidNow bool) (Status, []Status) {
	switch {
	case typ == stripe.EventTypeCheckoutSessionExpired:
		return StatusExpired, []Status{StatusCreated, StatusOpen}
	case typ == stripe.EventTypeCheckoutSessionAsyncPaymentFailed:
		return StatusFailed, []Status{StatusCreated, StatusOpen, StatusProcessing}
	case monthly:
		return StatusActive, []Status{StatusCreated, StatusOpen, StatusProcessing, StatusError}
	case paidNow:
		return StatusPaid, []Status{StatusCreated, StatusOpen, StatusProcessing, StatusFailed, StatusExpired, StatusError}
	default:
		// Completed but paid later (a bank debit, say): async_payment_succeeded will say so.
		return StatusProcessing, []Status{StatusCreated, StatusOpen, StatusError}
	}
}

// applyInvoice records a paid invoice of a monthly gift: each one, the
// first and every renewal, is one ledger entry. An invoice paid before its
// checkout completion is known is kept unattached and counted once the
// completion ties its subscription to a donation.
func (h *Handler) applyInvoice(ctx context.Context, tx *sql.Tx, inv invoice, at time.Time) error {
	details := inv.SubscriptionDetails
	if inv.Parent != nil && inv.Parent.SubscriptionDetails != nil {
		details = inv.Parent.SubscriptionDetails
	}
	sub := string(inv.Subscription)
	var meta map[string]string
	if details != nil {
		meta = details.Metadata
		if sub == "" {
			sub = string(details.Subscription)
		}
	}
	if sub == "" || inv.AmountPaid <= 0 || inv.ID == "" {
		return nil
	}
	if inv.StatusTransitions.PaidAt > 0 {
		at = time.Unix(inv.StatusTransitions.PaidAt, 0).UTC()
	}
	var donation *Donation
	d, err := h.findDonation(ctx, tx, meta["donation"], sub)
	switch {
	case err == nil:
		donation = &d
	case !errors.Is(err, ErrNotFound):
		return err
	}
	if err := h.store.recordPayment(ctx, tx, paid{StripeID: inv.ID, PaymentIntentID: string(inv.PaymentIntent), SubscriptionID: sub,
		Donation: donation, AmountMinor: inv.AmountPaid, Currency: inv.Currency, Email: inv.CustomerEmail,
		CustomerID: string(inv.Customer), PaidAt: at}); err != nil {
		return err
	}
	if donation != nil {
		if err := h.store.attachSubscription(ctx, tx, d, sub); err != nil {
			return err
		}
		if err := h.store.setStatus(ctx, tx, d.ID, StatusActive, StatusCreated, StatusOpen, StatusProcessing, StatusError); err != nil {
			return err
		}
	}
	return h.queueReceipts(ctx, tx)
}

func (h *Handler) applySubscriptionDeleted(ctx context.Context, tx *sql.Tx, sub subscription) error {
	d, err := h.findDonation(ctx, tx, sub.Metadata["donation"], sub.ID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return h.store.cancel(ctx, tx, d.ID)
}

// receiptData is what the donation_receipt email receives as .Data.
type receiptData struct {
	Amount     string
	Date       string
	CauseTitle string
	CauseURL   string
	Monthly    bool
	CancelURL  string
	Reference  string
}

// queueReceipts queues the thank-you email of every ledger entry that has a
// donation and no receipt yet, in the donor's language, inside the event's
// transaction: it is sent if and only if the payment is recorded.
func (h *Handler) queueReceipts(ctx context.Context, tx *sql.Tx) error {
	due, err := h.store.dueReceipts(ctx, tx)
	if err != nil {
		return err
	}
	for _, r := range due {
		msg, err := h.receiptMail(ctx, tx, r)
		if err != nil {
			return err
		}
		// No address, or one Stripe took but mail cannot use: the ledger
		// goes on without the receipt.
		if err := msg.Validate(); err != nil {
			slog.Warn("donation receipt not sent", slog.Int64("payment", r.PaymentID), slog.Any("error", err))
		} else if err := notify.Enqueue(ctx, tx, msg); err != nil {
			return err
		}
		if err := h.store.receiptQueued(ctx, tx, r.PaymentID); err != nil {
			return err
		}
	}
	return nil
}

// receiptMail renders the donation_receipt email of a payment. A monthly
// donor's receipt carries a fresh link that stops the gift.
func (h *Handler) receiptMail(ctx context.Context, tx *sql.Tx, r receipt) (notify.Message, error) {
	data := receiptData{
		Amount:     formatMoney(h.rdr.Catalogue, r.Lang, r.AmountMinor, r.Currency),
		Date:       h.rdr.Catalogue.Date(r.Lang, r.PaidAt),
		CauseTitle: r.CauseTitle,
		CauseURL:   h.cfg.BaseURL + "/c/" + r.CauseSlug,
		Monthly:    r.Monthly,
		Reference:  r.StripeID,
	}
	if r.Monthly && r.Email != "" {
		token, err := h.store.newCancelToken(ctx, tx, r.DonationID)
		if err != nil {
			return notify.Message{}, err
		}
		data.CancelURL = h.cfg.BaseURL + "/donations/cancel/" + token
	}
	m, err := h.rdr.Mail(r.Lang, "donation_receipt", data)
	if err != nil {
		return notify.Message{}, fmt.Errorf("render receipt: %w", err)
	}
	return notify.Message{To: r.Email, Lang: r.Lang, Subject: m.Subject, Text: m.Text, HTML: m.HTML,
		Priority: notify.Transactional, Kind: "donation_receipt"}, nil
}
