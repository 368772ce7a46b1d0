package donations

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallyhq/rally/campaigns"
)

// stripeCall is one request Rally made to Stripe, and what came back.
type stripeCall struct {
	Method, Path   string
	Form           url.Values
	IdempotencyKey string
	Response       map[string]any
}

// stripeRecorder sits between Rally and stripe-mock and keeps every call.
type stripeRecorder struct {
	mu    sync.Mutex
	calls []stripeCall
	srv   *httptest.Server
}

func newStripeRecorder(t *testing.T) *stripeRecorder {
	t.Helper()
	target, err := url.Parse(stripeMockURL)
	if err != nil {
		t.Fatal(err)
	}
	rec := &stripeRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		call := stripeCall{Method: resp.Request.Method, Path: resp.Request.URL.Path,
			IdempotencyKey: resp.Request.Header.Get("Idempotency-Key")}
		if f, ok := resp.Request.Context().Value(formKey{}).(url.Values); ok {
			call.Form = f
		}
		_ = json.Unmarshal(body, &call.Response)
		rec.mu.Lock()
		rec.calls = append(rec.calls, call)
		rec.mu.Unlock()
		return nil
	}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r.WithContext(contextWithForm(r, form)))
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

type formKey struct{}

// contextWithForm keeps the form Rally posted, for ModifyResponse to record.
func contextWithForm(r *http.Request, form url.Values) context.Context {
	return context.WithValue(r.Context(), formKey{}, form)
}

func (s *stripeRecorder) all() []stripeCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stripeCall(nil), s.calls...)
}

func (s *stripeRecorder) last(t *testing.T) stripeCall {
	t.Helper()
	calls := s.all()
	if len(calls) == 0 {
		t.Fatal("Rally made no call to Stripe")
	}
	return calls[len(calls)-1]
}

// newEnvWithStripe is newEnv talking to stripe-mock through a recorder.
func newEnvWithStripe(t *testing.T) (*env, *stripeRecorder) {
	rec := newStripeRecorder(t)
	cfg := testConfig()
	cfg.APIBase = rec.srv.URL
	return newEnv(t, cfg), rec
}

func (e *env) do(method, target string, form url.Values, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.engine.ServeHTTP(rec, req)
	return rec
}

// missingMessage finds a catalogue id shown instead of its sentence.
var missingMessage = regexp.MustCompile(`\bDonate[A-Z][A-Za-z]+\b`)

func (e *env) wantPage(rec *httptest.ResponseRecorder, status int, contains ...string) {
	e.t.Helper()
	if rec.Code != status {
		e.t.Fatalf("status = %d, want %d; body:\n%s", rec.Code, status, rec.Body)
	}
	body := rec.Body.String()
	if m := missingMessage.FindString(body); m != "" {
		e.t.Errorf("page shows the untranslated id %s", m)
	}
	for _, s := range contains {
		if !strings.Contains(body, s) {
			e.t.Errorf("page lacks %q; body:\n%s", s, body)
		}
	}
}

func TestDonateRedirectsToCheckout(t *testing.T) {
	e, stripeCalls := newEnvWithStripe(t)
	rec := e.do(http.MethodPost, "/c/"+testSlug+"/donate", url.Values{"amount": {"12.50"}, "preset": {"10"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303; body:\n%s", rec.Code, rec.Body)
	}
	call := stripeCalls.last(t)
	if call.Method != http.MethodPost || call.Path != "/v1/checkout/sessions" {
		t.Fatalf("Stripe call = %s %s, want POST /v1/checkout/sessions", call.Method, call.Path)
	}
	stripeURL, _ := call.Response["url"].(string)
	if stripeURL == "" || rec.Header().Get("Location") != stripeURL {
		t.Errorf("Location = %q, want the url Stripe returned, %q", rec.Header().Get("Location"), stripeURL)
	}
	ref := call.Form.Get("client_reference_id")
	want := map[string]string{
		"mode":                                   "payment",
		"submit_type":                            "donate",
		"line_items[0][price_data][unit_amount]": "1250",
		"line_items[0][price_data][currency]":    "eur",
		"line_items[0][quantity]":                "1",
		"metadata[cause]":                        testSlug,
		"metadata[donation]":                     ref,
		"payment_intent_data[metadata][cause]":   testSlug,
		"success_url":                            "http://rally.test/c/" + testSlug + "/donate/thanks",
		"cancel_url":                             "http://rally.test/c/" + testSlug + "/donate?canceled=1",
		"locale":                                 "en",
	}
	for k, v := range want {
		if got := call.Form.Get(k); got != v {
			t.Errorf("Stripe got %s = %q, want %q", k, got, v)
		}
	}
	if ref == "" || call.IdempotencyKey == "" || !strings.Contains(call.IdempotencyKey, ref) {
		t.Errorf("reference %q, idempotency key %q: want a key made from the reference", ref, call.IdempotencyKey)
	}
	d := e.donation(ref)
	if d.Status != StatusOpen || d.AmountMinor != 1250 || d.Monthly || d.SessionID != call.Response["id"] || d.Lang != "en" {
		t.Errorf("donation = %+v, want open, 1250, one-off, with Stripe's session id", d)
	}
	e.wantTotals(0, 0, 0) // nothing counts before Stripe says it was paid

	t.Run("a second donation gets its own reference", func(t *testing.T) {
		rec := e.do(http.MethodPost, "/c/"+testSlug+"/donate", url.Values{"preset": {"25"}})
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("status = %d, want 303", rec.Code)
		}
		second := stripeCalls.last(t)
		if second.Form.Get("client_reference_id") == ref || second.IdempotencyKey == call.IdempotencyKey {
			t.Errorf("two donations share reference %q", ref)
		}
		if got := second.Form.Get("line_items[0][price_data][unit_amount]"); got != "2500" {
			t.Errorf("preset 25 sent %s, want 2500", got)
		}
		// Nothing keys on Stripe's session id: stripe-mock may give every
		// session the same one.
		if got := e.donation(second.Form.Get("client_reference_id")); got.Status != StatusOpen || got.SessionID != second.Response["id"] {
			t.Errorf("second donation = %+v, want open on session %v", got, second.Response["id"])
		}
		if n := e.count(`SELECT count(*) FROM donations WHERE status = 'open'`); n != 2 {
			t.Errorf("%d open donations, want 2", n)
		}
	})
}

func TestDonateMonthlyInFrench(t *testing.T) {
	e, stripeCalls := newEnvWithStripe(t)
	now := time.Now().UTC()
	var supporterID int64
	if err := e.w.QueryRow(`INSERT INTO supporters (email, email_key, name, lang, created_at, updated_at)
		VALUES ('Ada@example.org', 'ada@example.org', 'Ada', 'fr', ?, ?) RETURNING id`, now, now).Scan(&supporterID); err != nil {
		t.Fatal(err)
	}
	rec := e.do(http.MethodPost, "/c/"+testSlug+"/donate?lang=fr",
		url.Values{"amount": {"12,50"}, "monthly": {"1"}, "email": {"Ada@Example.org"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303; body:\n%s", rec.Code, rec.Body)
	}
	call := stripeCalls.last(t)
	want := map[string]string{
		"mode":                                   "subscription",
		"line_items[0][price_data][unit_amount]": "1250",
		"line_items[0][price_data][recurring][interval]": "month",
		"metadata[cause]":                    testSlug,
		"metadata[supporter]":                strconv.FormatInt(supporterID, 10),
		"subscription_data[metadata][cause]": testSlug,
		"customer_email":                     "Ada@example.org",
		"locale":                             "fr",
	}
	for k, v := range want {
		if got := call.Form.Get(k); got != v {
			t.Errorf("Stripe got %s = %q, want %q", k, got, v)
		}
	}
	d := e.donation(call.Form.Get("client_reference_id"))
	if !d.Monthly || d.Lang != "fr" || d.SupporterID == nil || *d.SupporterID != supporterID {
		t.Errorf("donation = %+v, want monthly, in French, for supporter %d", d, supporterID)
	}
}

func TestDonateInvalidForm(t *testing.T) {
	e, stripeCalls := newEnvWithStripe(t)
	tests := []struct {
		name    string
		form    url.Values
		message string
	}{
		{"not a number", url.Values{"amount": {"lots"}, "monthly": {"1"}, "email": {"ada@example.org"}}, "in figures"},
		{"too small", url.Values{"amount": {"0.50"}}, "smallest gift is €1"},
		{"too large", url.Values{"amount": {"10000.01"}}, "largest gift"},
		{"negative", url.Values{"amount": {"-20"}}, "in figures"},
		{"too many decimals", url.Values{"amount": {"12.505"}}, "two decimals"},
		{"nothing chosen", url.Values{}, "Choose an amount"},
		{"bad email", url.Values{"amount": {"10"}, "email": {"not an email"}}, "does not look right"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(http.MethodPost, "/c/"+testSlug+"/donate", tt.form)
			e.wantPage(rec, http.StatusUnprocessableEntity, tt.message, `action="/c/`+testSlug+`/donate"`)
			if a := tt.form.Get("amount"); a != "" && !strings.Contains(rec.Body.String(), `value="`+a+`"`) {
				t.Errorf("the amount typed, %q, is not in the form again", a)
			}
			if tt.form.Get("monthly") == "1" && !strings.Contains(rec.Body.String(), `name="monthly" value="1" checked`) {
				t.Errorf("the monthly box is not ticked again")
			}
			if em := tt.form.Get("email"); em != "" && !strings.Contains(rec.Body.String(), `value="`+em+`"`) {
				t.Errorf("the email typed is not in the form again")
			}
		})
	}
	if n := len(stripeCalls.all()); n != 0 {
		t.Errorf("invalid forms made %d calls to Stripe", n)
	}
	if n := e.count(`SELECT count(*) FROM donations`); n != 0 {
		t.Errorf("invalid forms wrote %d donations", n)
	}
}

func TestDonateStripeDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	cfg := testConfig()
	cfg.APIBase = down
	e := newEnv(t, cfg)
	rec := e.do(http.MethodPost, "/c/"+testSlug+"/donate", url.Values{"amount": {"15"}})
	e.wantPage(rec, http.StatusServiceUnavailable, "try again", `value="15"`)
	if n := e.count(`SELECT count(*) FROM donations WHERE status = 'error'`); n != 1 {
		t.Errorf("the failed attempt is not marked as an error")
	}
	e.wantTotals(0, 0, 0)

	t.Run("a Stripe error answer", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"type":"api_error","message":"down for maintenance"}}`)
		}))
		defer srv.Close()
		cfg.APIBase = srv.URL
		e := newEnv(t, cfg)
		e.wantPage(e.do(http.MethodPost, "/c/"+testSlug+"/donate", url.Values{"amount": {"15"}}), http.StatusServiceUnavailable, "try again")
		e.wantTotals(0, 0, 0)
	})
}

func TestDonationsOff(t *testing.T) {
	e := newEnv(t, Config{Currency: "eur", BaseURL: "http://rally.test"})
	if rec := e.do(http.MethodGet, "/c/"+testSlug+"/donate", nil); rec.Code != http.StatusNotFound {
		t.Errorf("GET donate page: %d, want 404", rec.Code)
	}
	if rec := e.do(http.MethodPost, "/c/"+testSlug+"/donate", url.Values{"amount": {"10"}}); rec.Code != http.StatusNotFound {
		t.Errorf("POST donate: %d, want 404", rec.Code)
	}
	cause, err := campaigns.NewStore(e.w, e.r).FindCauseBySlug(e.ctx(), testSlug)
	if err != nil {
		t.Fatal(err)
	}
	if f := e.handler.DonateForm("en", cause, ""); f != nil {
		t.Errorf("DonateForm = %+v, want nil while donations are off", f)
	}
	rec := e.do(http.MethodGet, "/campaigns/"+testSlug+"/donations", nil, "X-Owner", testSlug)
	e.wantPage(rec, http.StatusOK, "Donations are off", "can turn them on")
	if strings.Contains(rec.Body.String(), "STRIPE_SECRET_KEY") {
		t.Error("an organiser who does not run the site is told which settings turn donations on")
	}
	if n := e.count(`SELECT count(*) FROM donations`); n != 0 {
		t.Errorf("%d donations written while off", n)
	}
}

func TestDonatePages(t *testing.T) {
	e := newEnv(t, testConfig())
	e.addCause("a-draft", campaigns.Draft)
	e.wantPage(e.do(http.MethodGet, "/c/"+testSlug+"/donate", nil), http.StatusOK,
		"Donate to Save the park", `name="preset" value="10" checked`, `name="amount"`, `name="monthly" value="1"`, `name="email"`)
	e.wantPage(e.do(http.MethodGet, "/c/"+testSlug+"/donate?lang=fr", nil), http.StatusOK, "Faire un don", "10\u00a0€")
	e.wantPage(e.do(http.MethodGet, "/c/"+testSlug+"/donate?canceled=1", nil), http.StatusOK, "No payment was taken")
	e.wantPage(e.do(http.MethodGet, "/c/"+testSlug+"/donate/thanks", nil), http.StatusOK, "Thank you for your gift")
	for _, path := range []string{"/c/a-draft/donate", "/c/nowhere/donate"} {
		if rec := e.do(http.MethodGet, path, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
		if rec := e.do(http.MethodPost, path, url.Values{"amount": {"10"}}); rec.Code != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", path, rec.Code)
		}
	}

	t.Run("totals and goal above the form", func(t *testing.T) {
		d := e.addDonation("ref-1", 2550, false, "en")
		e.send("evt_1", "checkout.session.completed", paidSession(d.Ref, "pi_1", 2550))
		if err := e.store.SetGoal(e.ctx(), e.causeID, 10000); err != nil {
			t.Fatal(err)
		}
		e.wantPage(e.do(http.MethodGet, "/c/"+testSlug+"/donate", nil), http.StatusOK,
			"€25.50", "raised by 1 donor", `<progress id="donate-progress" max="10000" value="2550"`, "25% of the €100 goal")
	})
}

func TestDashboard(t *testing.T) {
	e := newEnv(t, testConfig())
	path := "/campaigns/" + testSlug + "/donations"
	if rec := e.do(http.MethodGet, path, nil, "X-Owner", "someone-else"); rec.Code != http.StatusNotFound {
		t.Errorf("another organiser's request: %d, want 404", rec.Code)
	}
	e.wantPage(e.do(http.MethodGet, path, nil, "X-Owner", testSlug), http.StatusOK, "No donations yet")

	one := e.addDonation("ref-1", 1250, false, "en")
	month := e.addDonation("ref-2", 500, true, "en")
	e.send("evt_1", "checkout.session.completed", paidSession(one.Ref, "pi_1", 1250))
	e.send("evt_2", "checkout.session.completed", subscriptionSession(month.Ref, "sub_1", 500))
	e.send("evt_3", "invoice.paid", paidInvoice("in_1", "sub_1", "pi_in_1", month.Ref, 500))
	e.send("evt_4", "charge.refunded", refundedCharge("ch_1", "pi_1", 1250, 250))

	e.wantPage(e.do(http.MethodGet, path, nil, "X-Owner", testSlug), http.StatusOK,
		"€15", "ada@example.org", "One-off", "Monthly", "€12.50", "€2.50", "monthly gift running")

	t.Run("csv", func(t *testing.T) {
		rec := e.do(http.MethodGet, path+".csv", nil, "X-Owner", testSlug)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
			t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		rows, err := csv.NewReader(rec.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 {
			t.Fatalf("%d CSV rows, want a header and 2 payments: %v", len(rows), rows)
		}
		var net int
		for _, r := range rows[1:] {
			switch r[7] {
			case "pi_1":
				if r[2] != "one-off" || r[4] != "12.50" || r[5] != "2.50" || r[6] != "10" {
					t.Errorf("one-off row = %v", r)
				}
				net += 1000
			case "in_1":
				if r[2] != "monthly" || r[4] != "5" || r[9] != "sub_1" {
					t.Errorf("monthly row = %v", r)
				}
				net += 500
			default:
				t.Errorf("unexpected row %v", r)
			}
		}
		e.wantTotals(int64(net), 2, 1)
		if rec := e.do(http.MethodGet, path+".csv", nil); rec.Code != http.StatusNotFound {
			t.Errorf("CSV without the owner: %d, want 404", rec.Code)
		}
	})
	t.Run("goal", func(t *testing.T) {
		rec := e.do(http.MethodPost, path+"/goal", url.Values{"goal": {"2 000"}}, "X-Owner", testSlug)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("status = %d, want 303", rec.Code)
		}
		if got, _ := e.store.Totals(e.ctx(), e.causeID); got.GoalMinor != 200000 {
			t.Errorf("goal = %d, want 200000", got.GoalMinor)
		}
		e.wantPage(e.do(http.MethodPost, path+"/goal", url.Values{"goal": {"a lot"}}, "X-Owner", testSlug),
			http.StatusUnprocessableEntity, "in figures", `value="a lot"`)
		e.do(http.MethodPost, path+"/goal", url.Values{"goal": {""}}, "X-Owner", testSlug)
		if got, _ := e.store.Totals(e.ctx(), e.causeID); got.GoalMinor != 0 {
			t.Errorf("goal = %d after clearing it, want 0", got.GoalMinor)
		}
	})
}

func TestCancelMonthly(t *testing.T) {
	e, stripeCalls := newEnvWithStripe(t)
	d := e.addDonation("ref-m", 800, true, "en")
	e.send("evt_1", "checkout.session.completed", subscriptionSession(d.Ref, "sub_live", 800))
	e.send("evt_2", "invoice.paid", paidInvoice("in_1", "sub_live", "pi_1", d.Ref, 800))
	var text string
	if err := e.r.QueryRow(`SELECT text_body FROM outbox WHERE kind = 'donation_receipt'`).Scan(&text); err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`http://rally\.test(/donations/cancel/\S+)`).FindStringSubmatch(text)
	if link == nil {
		t.Fatalf("no cancel link in the receipt:\n%s", text)
	}
	path := link[1]
	e.wantPage(e.do(http.MethodGet, path, nil), http.StatusOK, "You give €8 every month", "Stop my monthly donation")
	if rec := e.do(http.MethodGet, "/donations/cancel/not-a-token", nil); rec.Code != http.StatusNotFound {
		t.Errorf("unknown token: %d, want 404", rec.Code)
	}

	rec := e.do(http.MethodPost, path, url.Values{})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != path {
		t.Fatalf("status %d, Location %q; want 303 to the same page", rec.Code, rec.Header().Get("Location"))
	}
	call := stripeCalls.last(t)
	if call.Method != http.MethodDelete || call.Path != "/v1/subscriptions/sub_live" {
		t.Errorf("Stripe call = %s %s, want DELETE /v1/subscriptions/sub_live", call.Method, call.Path)
	}
	if got := e.donation(d.Ref).Status; got != StatusCanceled {
		t.Errorf("status = %s, want canceled", got)
	}
	e.wantPage(e.do(http.MethodGet, path, nil), http.StatusOK, "is stopped")
	e.wantTotals(800, 1, 1) // what was paid stays paid
}
