package donations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// stripeClient is the part of Stripe's API Rally calls: creating Checkout
// Sessions and cancelling subscriptions. It is only ever called with no
// database transaction open.
type stripeClient struct {
	api *client.API
}

func newStripeClient(cfg Config) *stripeClient {
	conf := &stripe.BackendConfig{
		HTTPClient:    &http.Client{Timeout: 20 * time.Second},
		LeveledLogger: slogLogger{},
	}
	if cfg.APIBase != "" {
		conf.URL = stripe.String(cfg.APIBase)
	}
	backends := &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, conf),
		Connect: stripe.GetBackend(stripe.ConnectBackend),
		Uploads: stripe.GetBackend(stripe.UploadsBackend),
	}
	return &stripeClient{api: client.New(cfg.SecretKey, backends)}
}

// errNoCheckoutURL is returned when Stripe answers without a page to send
// the donor to.
var errNoCheckoutURL = errors.New("stripe returned no usable checkout url")

// checkoutRequest is what a Checkout Session is made from.
type checkoutRequest struct {
	Donation    *Donation
	Slug        string
	ProductName string
	Locale      string
	SuccessURL  string
	CancelURL   string
	SupporterID int64 // 0 when unknown
}

// createSession creates the Checkout Session for a donation and returns its
// id and the URL of Stripe's page. The donation's reference is the
// idempotency key, so the client's retries never make a second session.
func (s *stripeClient) createSession(ctx context.Context, r checkoutRequest) (id, pageURL string, err error) {
	d := r.Donation
	meta := map[string]string{"cause": r.Slug, "donation": d.Ref}
	if r.SupporterID != 0 {
		meta["supporter"] = fmt.Sprint(r.SupporterID)
	}
	price := &stripe.CheckoutSessionLineItemPriceDataParams{
		Currency:    stripe.String(d.Currency),
		UnitAmount:  stripe.Int64(d.AmountMinor),
		ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String(r.ProductName)},
	}
	p := &stripe.CheckoutSessionParams{
		ClientReferenceID: stripe.String(d.Ref),
		SuccessURL:        stripe.String(r.SuccessURL),
		CancelURL:         stripe.String(r.CancelURL),
		Locale:            stripe.String(r.Locale),
		LineItems:         []*stripe.CheckoutSessionLineItemParams{{Quantity: stripe.Int64(1), PriceData: price}},
		Metadata:          meta,
	}
	if d.Email != "" {
		p.CustomerEmail = stripe.String(d.Email)
	}
	// The metadata is copied to the payment or the subscription too, so
	// their own events (and Stripe's dashboard) name the cause.
	if d.Monthly {
		p.Mode = stripe.String(string(stripe.CheckoutSessionModeSubscription))
		price.Recurring = &stripe.CheckoutSessionLineItemPriceDataRecurringParams{Interval: stripe.String("month")}
		p.SubscriptionData = &stripe.CheckoutSessionSubscriptionDataParams{Metadata: meta}
	} else {
		p.Mode = stripe.String(string(stripe.CheckoutSessionModePayment))
		p.SubmitType = stripe.String(string(stripe.CheckoutSessionSubmitTypeDonate))
		p.PaymentIntentData = &stripe.CheckoutSessionPaymentIntentDataParams{
			Metadata: meta, Description: stripe.String(r.ProductName)}
	}
	p.SetIdempotencyKey("rally-checkout-" + d.Ref)
	p.Context = ctx
	sess, err := s.api.CheckoutSessions.New(p)
	if err != nil {
		return "", "", fmt.Errorf("create checkout session: %w", err)
	}
	u, err := url.Parse(sess.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", "", fmt.Errorf("create checkout session %s: %w", sess.ID, errNoCheckoutURL)
	}
	return sess.ID, sess.URL, nil
}

// cancelSubscription stops a monthly gift at once. A subscription Stripe no
// longer knows counts as stopped.
func (s *stripeClient) cancelSubscription(ctx context.Context, id string) error {
	p := &stripe.SubscriptionCancelParams{}
	p.Context = ctx
	_, err := s.api.Subscriptions.Cancel(id, p)
	var se *stripe.Error
	if errors.As(err, &se) && se.Code == stripe.ErrorCodeResourceMissing {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cancel subscription %s: %w", id, err)
	}
	return nil
}

// slogLogger sends stripe-go's own log lines to slog.
type slogLogger struct{}

func (slogLogger) Debugf(format string, v ...any) { slog.Debug("stripe: " + fmt.Sprintf(format, v...)) }
func (slogLogger) Infof(format string, v ...any)  { slog.Debug("stripe: " + fmt.Sprintf(format, v...)) }
func (slogLogger) Warnf(format string, v ...any)  { slog.Warn("stripe: " + fmt.Sprintf(format, v...)) }

// Errorf is for failures Rally gets back as errors and logs itself.
func (slogLogger) Errorf(format string, v ...any) { slog.Debug("stripe: " + fmt.Sprintf(format, v...)) }
