package campaigns

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// The organiser's overview of a cause names only the signers who confirmed:
// anyone can type anyone's name and address into a sign form, and until its
// owner confirms, neither is the organiser's to see. Pending signatures are
// only counted.
func TestOverviewShowsOnlyConfirmedSigners(t *testing.T) {
	gin.SetMode(gin.TestMode)
	s, _, cz := newTestStore(t)
	ctx := context.Background()
	rdr := newTestRenderer(t)
	acc := NewAccounts(s, rdr, AccountsConfig{BaseURL: "https://rally.example"})
	h := NewHandler(s, rdr, HandlerConfig{BaseURL: "https://rally.example", UploadDir: t.TempDir()})
	e := gin.New()
	e.Use(templates.LanguageMiddleware(false), acc.LoadSession())
	acc.Routes(e)
	h.OrganiserRoutes(e.Group("", acc.RequireOrganiser()))
	serve := func(method, target string, form url.Values, c *http.Cookie) *httptest.ResponseRecorder {
		var req *http.Request
		if form != nil {
			req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(method, target, nil)
		}
		if c != nil {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	login := serve(http.MethodPost, "/login", url.Values{"email": {"org@example.org"}, "password": {"correct horse battery"}}, nil)
	session := acctSessionCookie(login)
	if session == nil {
		t.Fatalf("login: %d", login.Code)
	}

	sign := func(name, email string) *Signing {
		sg := testSigning(cz, email)
		sg.In.Name = name
		if _, err := s.Sign(ctx, sg); err != nil {
			t.Fatal(err)
		}
		return sg
	}
	confirmed := sign("Carla Confirmed", "carla@example.org")
	if _, err := s.Confirm(ctx, confirmed.Token); err != nil {
		t.Fatal(err)
	}
	sign("Pat Pending", "pat.pending@example.org")
	sign("Quinn Pending", "quinn.pending@example.org")

	rec := serve(http.MethodGet, "/campaigns/"+cz.Slug, nil, session)
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("overview: %d", rec.Code)
	}
	for _, want := range []string{"Carla Confirmed", "carla@example.org", "2 signatures wait for their signers to confirm them by email."} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview lacks %q", want)
		}
	}
	for _, hidden := range []string{"Pat Pending", "pat.pending@example.org", "Quinn Pending", "quinn.pending@example.org"} {
		if strings.Contains(body, hidden) {
			t.Errorf("the overview shows %q, who never confirmed", hidden)
		}
	}
}
