package donations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/cmd/rally/database"
	"github.com/rallyhq/rally/cmd/rally/database/dbtest"
	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// stripeMockURL is the base URL of the stripe-mock the tests talk to.
var stripeMockURL string

const stripeMockHelp = `the donations tests need stripe-mock v0.203.0.
Install it with:  go install github.com/stripe/stripe-mock@v0.203.0
It is looked for in $STRIPE_MOCK_BIN, then on PATH, then in $(go env GOPATH)/bin;
or point STRIPE_MOCK_URL at one already running.`

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	url, stop, err := startStripeMock()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n%s\n", err, stripeMockHelp)
		os.Exit(1)
	}
	stripeMockURL = url
	code := m.Run()
	stop()
	os.Exit(code)
}

func findStripeMock() (string, error) {
	if p := os.Getenv("STRIPE_MOCK_BIN"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopath = strings.TrimSpace(string(out))
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "stripe-mock")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("stripe-mock not found")
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port), nil
}

// startStripeMock starts stripe-mock on two free ports and waits until it
// answers.
func startStripeMock() (string, func(), error) {
	if u := os.Getenv("STRIPE_MOCK_URL"); u != "" {
		return u, func() {}, waitForStripeMock(u)
	}
	bin, err := findStripeMock()
	if err != nil {
		return "", nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return "", nil, err
	}
	httpsPort, err := freePort()
	if err != nil {
		return "", nil, err
	}
	var out strings.Builder
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:"+httpPort, "-https-addr", "127.0.0.1:"+httpsPort)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s: %w", bin, err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	u := "http://127.0.0.1:" + httpPort
	if err := waitForStripeMock(u); err != nil {
		stop()
		return "", nil, fmt.Errorf("%w; its output:\n%s", err, out.String())
	}
	return u, stop, nil
}

func waitForStripeMock(u string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, u+"/v1/customers/cus_123", nil)
		req.SetBasicAuth("sk_test_123", "")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("stripe-mock at %s did not answer within 30 s", u)
}

// mustOpenDB opens writer and reader pools on a fresh file with
// production's DSN options and applies campaigns', notify's and donations'
// migrations.
func mustOpenDB(t *testing.T) (writer, reader *sql.DB) {
	t.Helper()
	return dbtest.Open(t,
		database.Set{Name: "campaigns", FS: campaigns.Migrations(), Steps: campaigns.DataMigrations()},
		database.Set{Name: "notify", FS: notify.Migrations()},
		database.Set{Name: "donations", FS: Migrations()})
}

const (
	testSecretKey     = "sk_test_123"
	testWebhookSecret = "whsec_test_rally"
	testSlug          = "save-the-park"
)

// env is one test's Rally: a database with a published cause, the
// donations handler on a Gin engine, and what a test needs to look inside.
type env struct {
	t       *testing.T
	w, r    *sql.DB
	store   *Store
	handler *Handler
	engine  *gin.Engine
	rdr     *templates.Renderer
	causeID int64
}

func testConfig() Config {
	return Config{SecretKey: testSecretKey, WebhookSecret: testWebhookSecret, APIBase: stripeMockURL,
		Currency: "eur", BaseURL: "http://rally.test"}
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	w, r := mustOpenDB(t)
	rdr, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, w: w, r: r, store: NewStore(w, r), rdr: rdr}
	e.causeID = e.addCause(testSlug, campaigns.Published)
	e.handler = NewHandler(cfg, e.store, campaigns.NewStore(w, r), rdr)
	e.engine = gin.New()
	e.engine.Use(templates.LanguageMiddleware(false))
	e.handler.PublicRoutes(e.engine)
	e.handler.OrganiserRoutes(e.engine, func(c *gin.Context, slug string) bool { return c.GetHeader("X-Owner") == slug })
	return e
}

// addCause inserts a cause (and its organiser) with plain SQL.
func (e *env) addCause(slug string, status campaigns.Status) int64 {
	e.t.Helper()
	now := time.Now().UTC()
	var orgID, id int64
	err := e.w.QueryRow(`INSERT INTO organisers (name, email, email_key, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, 'x', ?, ?) RETURNING id`, "Org "+slug, slug+"@example.org", slug+"@example.org", now, now).Scan(&orgID)
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.w.QueryRow(`INSERT INTO causes (organiser_id, slug, title, summary, target, status, published_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, 'The council', ?, ?, ?, ?) RETURNING id`,
		orgID, slug, "Save the park", "Keep the park green for everyone.", status, now, now, now).Scan(&id)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) ctx() context.Context { return context.Background() }

// totals returns the cause's totals and checks them against want.
func (e *env) wantTotals(total, count, donors int64) {
	e.t.Helper()
	got, err := e.store.Totals(e.ctx(), e.causeID)
	if err != nil {
		e.t.Fatal(err)
	}
	if got.TotalMinor != total || got.Count != count || got.Donors != donors || got.Currency != "eur" {
		e.t.Errorf("totals = %+v, want total_minor %d, count %d, donors %d in eur", got, total, count, donors)
	}
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.r.QueryRow(query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) donation(ref string) Donation {
	e.t.Helper()
	d, err := scanDonation(e.r.QueryRow(`SELECT `+donationColumns+` FROM donations d WHERE d.ref = ?`, ref))
	if err != nil {
		e.t.Fatalf("donation %s: %v", ref, err)
	}
	return d
}

// addDonation writes a donation as the donate form would, before Checkout.
func (e *env) addDonation(ref string, amount int64, monthly bool, lang string) Donation {
	e.t.Helper()
	d := &Donation{Ref: ref, CauseID: e.causeID, Lang: lang, AmountMinor: amount, Currency: "eur", Monthly: monthly,
		Email: "ada@example.org"}
	if err := e.store.createDonation(e.ctx(), d); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.checkoutStarted(e.ctx(), d.ID, "cs_test_same_for_all"); err != nil {
		e.t.Fatal(err)
	}
	return *d
}
