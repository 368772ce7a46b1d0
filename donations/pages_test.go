package donations

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/templates"
)

// causeTotals gives the cause pages what the donations store says they
// raised, as Rally's wiring does.
type causeTotals struct{ s *Store }

func (t causeTotals) Enabled() bool { return true }

func (t causeTotals) Form(ctx context.Context, lang string, c campaigns.Cause, email string) any {
	return nil
}

func (t causeTotals) Totals(ctx context.Context, lang string, c campaigns.Cause) (campaigns.DonationTotals, bool, error) {
	tt, err := t.s.Totals(ctx, c.ID)
	return campaigns.DonationTotals{Currency: tt.Currency, TotalMinor: tt.TotalMinor, Count: tt.Count}, true, err
}

// A payment the webhook records shows at once in the cause's public JSON,
// read (and cached) just before: the webhook tells the cause pages.
func TestWebhookPaymentShowsOnTheCauseAtOnce(t *testing.T) {
	e := newEnv(t, testConfig())
	causes := campaigns.NewStore(e.w, e.r)
	t.Cleanup(causes.Close)
	e.handler = NewHandler(testConfig(), e.store, causes, e.rdr)
	e.engine = gin.New()
	e.engine.Use(templates.LanguageMiddleware(false))
	e.handler.PublicRoutes(e.engine)
	campaigns.NewHandler(causes, e.rdr, campaigns.HandlerConfig{BaseURL: "http://rally.test", Donations: causeTotals{e.store}}).
		PublicRoutes(e.engine)
	readJSON := func() string {
		rec := httptest.NewRecorder()
		e.engine.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/c/"+testSlug+".json", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("JSON: status %d", rec.Code)
		}
		return rec.Body.String()
	}
	if j := readJSON(); !strings.Contains(j, `"total_minor":0`) {
		t.Fatalf("JSON before any gift: %s", j)
	}
	d := e.addDonation("ref-one", 1250, false, "en")
	e.send("evt_1", "checkout.session.completed", paidSession(d.Ref, "pi_1", 1250))
	if j := readJSON(); !strings.Contains(j, `"total_minor":1250,"count":1`) {
		t.Errorf("JSON just after the payment: %s", j)
	}
	e.send("evt_2", "charge.refunded", refundedCharge("ch_1", "pi_1", 1250, 250))
	if j := readJSON(); !strings.Contains(j, `"total_minor":1000,"count":1`) {
		t.Errorf("JSON just after a refund: %s", j)
	}
}
