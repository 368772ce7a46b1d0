package campaigns

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// siteEnv is a real gin engine with the public pages, the accounts and the
// organiser's area, as cmd/rally mounts them, over a fresh database and
// uploads folder, with a clock the test moves.
type siteEnv struct {
	t       *testing.T
	w       *sql.DB
	store   *Store
	h       *Handler
	blasts  *notify.Blasts
	engine  *gin.Engine
	uploads string
	now     time.Time
}

func newSiteEnv(t *testing.T) *siteEnv {
	t.Helper()
	gin.SetMode(gin.TestMode)
	w, r := mustOpenDB(t)
	env := &siteEnv{t: t, w: w, uploads: t.TempDir(), now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	env.store = NewStore(w, r)
	t.Cleanup(env.store.Close)
	env.store.SetClock(func() time.Time { return env.now })
	rdr := newTestRenderer(t)
	acc := NewAccounts(env.store, rdr, AccountsConfig{BaseURL: "http://rally.test"})
	// Blasts as cmd/rally makes them: an update asked to be mailed
	// becomes one of their drafts.
	env.blasts = notify.NewBlasts(w, r, rdr, NewBlastAudience(env.store, "http://rally.test"),
		notify.BlastConfig{BaseURL: "http://rally.test", Secret: []byte("test secret"), MailFrom: "rally@rally.test"})
	env.h = NewHandler(env.store, rdr, HandlerConfig{BaseURL: "http://rally.test", UploadDir: env.uploads, UpdateMail: env.blasts})
	e := gin.New()
	e.Use(templates.LanguageMiddleware(false), acc.LoadSession())
	env.h.PublicRoutes(e)
	acc.Routes(e)
	env.h.OrganiserRoutes(e.Group("", acc.RequireOrganiser()))
	env.h.AdminRoutes(e.Group("/admin", acc.RequireAdmin()))
	env.blasts.OrganiserRoutes(e.Group("", acc.RequireOrganiser()), env.h.OwnsCause, func(c *gin.Context) (notify.Organiser, bool) {
		o, ok := CurrentOrganiser(c)
		return notify.Organiser{ID: o.ID, Name: o.Name, Email: o.Email, Confirmed: o.EmailConfirmed(), Admin: o.Admin}, ok
	})
	env.engine = e
	return env
}

func (env *siteEnv) serve(req *http.Request, session *http.Cookie) *httptest.ResponseRecorder {
	if session != nil {
		req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	}
	rec := httptest.NewRecorder()
	env.engine.ServeHTTP(rec, req)
	return rec
}

func (env *siteEnv) get(target string, session *http.Cookie) *httptest.ResponseRecorder {
	return env.serve(httptest.NewRequest(http.MethodGet, target, nil), session)
}

func (env *siteEnv) post(target string, form url.Values, session *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return env.serve(req, session)
}

// organiser adds an organiser and returns their session cookie.
func (env *siteEnv) organiser(email string, admin, confirmed bool) (Organiser, *http.Cookie) {
	env.t.Helper()
	o, err := env.store.CreateOrganiser(context.Background(), "Olive", email, "correct horse battery", admin, confirmed)
	if err != nil {
		env.t.Fatal(err)
	}
	rec := env.post("/login", url.Values{"email": {email}, "password": {"correct horse battery"}}, nil)
	if c := acctSessionCookie(rec); rec.Code == http.StatusSeeOther && c != nil {
		return o, c
	}
	env.t.Fatalf("login %s: status %d", email, rec.Code)
	return o, nil
}

// causeForm posts the cause form to target as a browser does, with image
// as the picture when it is not nil.
func (env *siteEnv) causeForm(target, title string, image []byte, session *http.Cookie) *httptest.ResponseRecorder {
	env.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{"title": title, "summary": "S", "target": "T", "goal": "100", "image_alt": "A dot"} {
		mw.WriteField(k, v)
	}
	if image != nil {
		fw, _ := mw.CreateFormFile("image", "picture.png")
		fw.Write(image)
	}
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, target, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return env.serve(req, session)
}

// uploaded lists the files in the uploads folder, and in its folders of
// images pending (as pending/ID/NAME).
func (env *siteEnv) uploaded() []string {
	env.t.Helper()
	var names []string
	err := filepath.WalkDir(env.uploads, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(env.uploads, path)
			names = append(names, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		env.t.Fatal(err)
	}
	return names
}

func (env *siteEnv) cause(slug string) Cause {
	env.t.Helper()
	cz, err := env.store.FindCauseBySlug(context.Background(), slug)
	if err != nil {
		env.t.Fatal(err)
	}
	return cz
}

func (env *siteEnv) count(query string, args ...any) int {
	env.t.Helper()
	var n int
	if err := env.w.QueryRow(query, args...).Scan(&n); err != nil {
		env.t.Fatal(err)
	}
	return n
}

// publishedCause makes a published cause and returns its slug.
func (env *siteEnv) publishedCause() string {
	env.t.Helper()
	o, err := env.store.CreateOrganiser(context.Background(), "Org", "org@example.org", "correct horse battery", false, true)
	if err != nil {
		env.t.Fatal(err)
	}
	c, err := env.store.CreateCause(context.Background(), o.ID, CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor", Goal: 100, Lang: "en"}, "")
	if err != nil {
		env.t.Fatal(err)
	}
	if c, err = env.store.SetStatus(context.Background(), c.ID, Published); err != nil {
		env.t.Fatal(err)
	}
	return c.Slug
}

func signValues(name, email string) url.Values {
	return url.Values{"name": {name}, "email": {email}, "country": {"FR"}, "public": {"1"}}
}

// pictureBytes returns a small PNG, different for each seed, as a camera
// would give different pictures.
func pictureBytes(t *testing.T, seed int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 18))
	img.Set(seed%32, 1, color.RGBA{200, uint8(seed), 40, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Addresses mail cannot reach are refused next to the field, with the
// form as typed, and nothing is kept.
func TestSignRefusesUndeliverableAddresses(t *testing.T) {
	env := newSiteEnv(t)
	slug := env.publishedCause()
	for _, email := range []string{"user@[1.2.3.4]", "user@1.2.3.4", "user@localhost", strings.Repeat("a", 65) + "@example.org",
		"user@" + strings.Repeat("b", 64) + ".org", "user\u202E@example.org", "user@exa\u202Emple.org"} {
		t.Run(email, func(t *testing.T) {
			rec := env.post("/c/"+slug+"/sign", signValues("Ada", email), nil)
			body := rec.Body.String()
			if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(body, "Enter an email address like name@example.org.") {
				t.Fatalf("status %d, want 422 with the email error", rec.Code)
			}
			if !strings.Contains(body, `value="Ada"`) {
				t.Errorf("the name typed is not in the form again")
			}
		})
	}
	if n := env.count(`SELECT count(*) FROM signatures`); n != 0 {
		t.Errorf("signatures = %d, want none", n)
	}
	if n := env.count(`SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("mails = %d, want none", n)
	}
}

// A partner site's form may send its checkboxes as "on", "True" or "yes"
// rather than Rally's "1": the signing counts them ticked, in what it
// stores and in the form it shows again, as the donate form does.
func TestSignReadsTicksAsEveryFormDoes(t *testing.T) {
	env := newSiteEnv(t)
	slug := env.publishedCause()
	form := url.Values{"name": {"Ada"}, "email": {"not-an-email"}, "country": {"FR"}, "public": {"True"}, "updates": {" yes "}}
	rec := env.post("/c/"+slug+"/sign", form, nil)
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("bad address: status %d, want 422", rec.Code)
	}
	for _, box := range []string{"public", "updates"} {
		if !strings.Contains(rec.Body.String(), `name="`+box+`" value="1" checked>`) {
			t.Errorf("the form shown again has %q unticked", box)
		}
	}
	form.Set("email", "ada@example.org")
	if rec := env.post("/c/"+slug+"/sign", form, nil); rec.Code != http.StatusOK {
		t.Fatalf("sign: status %d, want 200", rec.Code)
	}
	var public, updates bool
	if err := env.w.QueryRow(`SELECT is_public, consent_updates FROM signatures`).Scan(&public, &updates); err != nil {
		t.Fatal(err)
	}
	if !public || !updates {
		t.Errorf("stored public %v, updates %v; want both ticked", public, updates)
	}
}

// Bidirectional controls are taken out of a signer's name (the rest is
// kept as typed) so the name cannot turn the page's text around.
func TestSignStripsBidiControlsFromNames(t *testing.T) {
	env := newSiteEnv(t)
	slug := env.publishedCause()
	rec := env.post("/c/"+slug+"/sign", signValues("Zoë \u202Enamtsew\u202C \u2067Ω\u2069", "zoe@example.org"), nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	var name string
	if err := env.w.QueryRow(`SELECT name FROM signatures`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if want := "Zoë namtsew Ω"; name != want {
		t.Errorf("stored name %q, want %q", name, want)
	}
}

// Signing again and again with one address sends it at most MailsPerDay
// mails a day: every signing is kept, the page is the same each time, and
// other addresses are not affected. A day later, mail flows again.
func TestSigningMailsPerAddressADay(t *testing.T) {
	env := newSiteEnv(t)
	slug := env.publishedCause()
	var pages []string
	for i := range 5 {
		env.now = env.now.Add(time.Hour)
		// The same inbox, written differently each time.
		email := []string{"victim@example.org", "Victim+1@example.org", "victim@EXAMPLE.org", "VICTIM+x@example.org", "victim@example.org"}[i]
		rec := env.post("/c/"+slug+"/sign", signValues("Victim", email), nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("signing %d: status %d", i+1, rec.Code)
		}
		pages = append(pages, rec.Body.String())
		if rec := env.post("/c/"+slug+"/sign", signValues("Other", "other@example.org"), nil); rec.Code != http.StatusOK {
			t.Fatalf("other signing: status %d", rec.Code)
		}
	}
	if pages[0] != pages[4] {
		t.Errorf("the 5th signing's page differs from the 1st:\n%s\n---\n%s", pages[0], pages[4])
	}
	mails := func(key string) int {
		return env.count(`SELECT count(*) FROM outbox WHERE lower(to_addr) LIKE ?`, key+"%@example.org")
	}
	if got := mails("victim"); got != 3 {
		t.Errorf("mails to the victim = %d after 5 signings in a day, want 3", got)
	}
	if got := env.count(`SELECT count(*) FROM signatures WHERE email_key = 'victim@example.org'`); got != 5 {
		t.Errorf("signatures kept = %d, want all 5", got)
	}
	// Other addresses are limited on their own: this one had 5 signings
	// too, and got its own 3.
	if got := mails("other"); got != 3 {
		t.Errorf("mails to another address = %d, want its own 3", got)
	}
	if rec := env.post("/c/"+slug+"/sign", signValues("Fresh", "fresh@example.org"), nil); rec.Code != http.StatusOK || mails("fresh") != 1 {
		t.Errorf("a new address: status %d, %d mails; want its mail", rec.Code, mails("fresh"))
	}
	// The first of the 3 was sent 24 hours before this signing.
	env.now = env.now.Add(20 * time.Hour)
	if rec := env.post("/c/"+slug+"/sign", signValues("Victim", "victim@example.org"), nil); rec.Code != http.StatusOK {
		t.Fatalf("signing a day later: status %d", rec.Code)
	}
	if got := mails("victim"); got != 4 {
		t.Errorf("mails to the victim = %d once the first is a day old, want 4", got)
	}
}

// Someone signing several causes in a day gets every cause's link; an
// address signed to every cause gets at most MailsPerAddress mails a day.
func TestSigningMailsAcrossCauses(t *testing.T) {
	env := newSiteEnv(t)
	o, _ := env.organiser("olive@example.org", false, true)
	mails := func(email string) int {
		return env.count(`SELECT count(*) FROM outbox WHERE to_addr = ? AND kind = 'signature_confirm'`, email)
	}
	var slugs []string
	for i := range MailsPerAddress + 2 {
		slugs = append(slugs, env.ownedCause(o, fmt.Sprintf("Cause number %d", i)).Slug)
	}
	for i, slug := range slugs[:5] {
		env.now = env.now.Add(time.Minute)
		if rec := env.post("/c/"+slug+"/sign", signValues("Ada", "ada@example.org"), nil); rec.Code != http.StatusOK {
			t.Fatalf("signing cause %d: status %d", i+1, rec.Code)
		}
	}
	if got := mails("ada@example.org"); got != 5 {
		t.Errorf("confirmation mails after signing 5 causes = %d, want 5", got)
	}
	for i, slug := range slugs {
		env.now = env.now.Add(time.Minute)
		if rec := env.post("/c/"+slug+"/sign", signValues("Victim", "victim@example.org"), nil); rec.Code != http.StatusOK {
			t.Fatalf("signing cause %d: status %d", i+1, rec.Code)
		}
	}
	if got := mails("victim@example.org"); got != MailsPerAddress {
		t.Errorf("confirmation mails after signing %d causes = %d, want %d", len(slugs), got, MailsPerAddress)
	}
	if got := env.count(`SELECT count(*) FROM signatures WHERE email = 'victim@example.org'`); got != len(slugs) {
		t.Errorf("signatures kept = %d, want all %d", got, len(slugs))
	}
}

// An edit that replaces a cause's image deletes the old file once the edit
// is saved; an edit that fails deletes the file it brought.
func TestReplacedImageFileIsDeleted(t *testing.T) {
	env := newSiteEnv(t)
	_, session := env.organiser("olive@example.org", false, true)
	rec := env.causeForm("/campaigns/new", "Trees", pictureBytes(t, 1), session)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("create: status %d\n%s", rec.Code, rec.Body)
	}
	slug := strings.TrimPrefix(rec.Header().Get("Location"), "/campaigns/")
	first := env.cause(slug).Image
	if got := env.uploaded(); !slices.Equal(got, []string{first}) {
		t.Fatalf("uploads = %q, want the one image %q", got, first)
	}
	for i := 2; i <= 4; i++ {
		if rec := env.causeForm("/campaigns/"+slug+"/edit", "Trees", pictureBytes(t, i), session); rec.Code != http.StatusSeeOther {
			t.Fatalf("edit %d: status %d\n%s", i, rec.Code, rec.Body)
		}
	}
	last := env.cause(slug).Image
	if got := env.uploaded(); !slices.Equal(got, []string{last}) || last == first {
		t.Errorf("uploads after 3 replacements = %q, want only the current image %q", got, last)
	}
	// An edit without a picture keeps it.
	if rec := env.causeForm("/campaigns/"+slug+"/edit", "Trees", nil, session); rec.Code != http.StatusSeeOther {
		t.Fatalf("edit without image: status %d", rec.Code)
	}
	if got := env.uploaded(); !slices.Equal(got, []string{last}) || env.cause(slug).Image != last {
		t.Errorf("uploads after an edit without image = %q, want %q kept", got, last)
	}
	// The database refuses the next edit: its new file goes too.
	if _, err := env.w.Exec(`CREATE TRIGGER no_edits BEFORE UPDATE ON causes BEGIN SELECT RAISE(ABORT, 'no edits'); END`); err != nil {
		t.Fatal(err)
	}
	if rec := env.causeForm("/campaigns/"+slug+"/edit", "Trees", pictureBytes(t, 5), session); rec.Code != http.StatusInternalServerError {
		t.Fatalf("edit the database refuses: status %d, want 500", rec.Code)
	}
	if got := env.uploaded(); !slices.Equal(got, []string{last}) {
		t.Errorf("uploads after a failed edit = %q, want only %q", got, last)
	}
}

// An organiser uploads at most ImagesPerDay images a day; the next is
// refused next to the field, with the form kept, and nothing stored.
func TestUploadsPerOrganiserADay(t *testing.T) {
	env := newSiteEnv(t)
	_, session := env.organiser("olive@example.org", false, true)
	_, other := env.organiser("otto@example.org", false, true)
	rec := env.causeForm("/campaigns/new", "Trees", nil, session)
	slug := strings.TrimPrefix(rec.Header().Get("Location"), "/campaigns/")
	for i := range ImagesPerDay {
		env.now = env.now.Add(time.Minute)
		if rec := env.causeForm("/campaigns/"+slug+"/edit", "Trees", pictureBytes(t, i), session); rec.Code != http.StatusSeeOther {
			t.Fatalf("upload %d: status %d\n%s", i+1, rec.Code, rec.Body)
		}
	}
	current := env.cause(slug).Image
	rec = env.causeForm("/campaigns/"+slug+"/edit", "Trees in bloom", pictureBytes(t, 99), session)
	body := rec.Body.String()
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(body, "You have added 20 images today") {
		t.Fatalf("upload %d: status %d, want 422 with the limit's message\n%s", ImagesPerDay+1, rec.Code, body)
	}
	if !strings.Contains(body, `value="Trees in bloom"`) || !strings.Contains(body, `id="image-error"`) {
		t.Errorf("the refused form lacks the title typed or the error next to the image field")
	}
	if got := env.uploaded(); len(got) != 1 || env.cause(slug).Image != current || env.cause(slug).Title != "Trees" {
		t.Errorf("after the refused upload: files %q, cause %+v; want nothing changed", got, env.cause(slug))
	}
	// Another organiser has their own allowance.
	if rec := env.causeForm("/campaigns/new", "Rivers", pictureBytes(t, 100), other); rec.Code != http.StatusSeeOther {
		t.Errorf("another organiser's upload: status %d, want 303", rec.Code)
	}
	// A day after the first, one more may go.
	env.now = env.now.Add(24*time.Hour - time.Duration(ImagesPerDay-1)*time.Minute)
	if rec := env.causeForm("/campaigns/"+slug+"/edit", "Trees", pictureBytes(t, 101), session); rec.Code != http.StatusSeeOther {
		t.Errorf("upload a day after the first: status %d, want 303", rec.Code)
	}
}

// An organiser who has not confirmed their address cannot upload: the form
// says so next to the field, and no file is kept. Without an image, the
// form works.
func TestUnconfirmedOrganiserCannotUpload(t *testing.T) {
	env := newSiteEnv(t)
	_, session := env.organiser("new@example.org", false, false)
	rec := env.causeForm("/campaigns/new", "Trees", pictureBytes(t, 1), session)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "Confirm your email address before adding an image") {
		t.Fatalf("status %d, want 422 with the confirmation message\n%s", rec.Code, rec.Body)
	}
	if got := env.uploaded(); len(got) != 0 {
		t.Errorf("uploads = %q, want none", got)
	}
	if n := env.count(`SELECT count(*) FROM causes`); n != 0 {
		t.Errorf("causes = %d, want none saved", n)
	}
	if rec := env.causeForm("/campaigns/new", "Trees", nil, session); rec.Code != http.StatusSeeOther {
		t.Errorf("the form without an image: status %d, want 303", rec.Code)
	}
}

// A draft's image is its organiser's (and admins') only, and no cache keeps
// it; once the cause is published, it is public and cached. A file no
// cause shows is not found.
func TestDraftImageIsPrivate(t *testing.T) {
	env := newSiteEnv(t)
	_, session := env.organiser("olive@example.org", false, true)
	_, stranger := env.organiser("otto@example.org", false, true)
	_, admin := env.organiser("admin@example.org", true, true)
	rec := env.causeForm("/campaigns/new", "Trees", pictureBytes(t, 1), session)
	slug := strings.TrimPrefix(rec.Header().Get("Location"), "/campaigns/")
	img := "/uploads/" + env.cause(slug).Image
	for name, c := range map[string]*http.Cookie{"anonymous": nil, "another organiser": stranger} {
		if rec := env.get(img, c); rec.Code != http.StatusNotFound || rec.Header().Get("Cache-Control") != "private, no-store" {
			t.Errorf("draft image to %s: status %d, Cache-Control %q; want 404, private, no-store", name, rec.Code, rec.Header().Get("Cache-Control"))
		}
	}
	for name, c := range map[string]*http.Cookie{"its organiser": session, "an admin": admin} {
		rec := env.get(img, c)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/png" || rec.Header().Get("Cache-Control") != "private, no-store" {
			t.Errorf("draft image to %s: status %d, %q, Cache-Control %q; want 200, image/png, private, no-store",
				name, rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Cache-Control"))
		}
	}
	if _, err := env.store.SetStatus(context.Background(), env.cause(slug).ID, Published); err != nil {
		t.Fatal(err)
	}
	rec = env.get(img, nil)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Cache-Control"), "public") {
		t.Errorf("published image to anyone: status %d, Cache-Control %q; want 200, public", rec.Code, rec.Header().Get("Cache-Control"))
	}
	// A picture in the folder that no cause shows.
	stray := strings.Repeat("ab", 16) + ".png"
	if err := os.WriteFile(filepath.Join(env.uploads, stray), pictureBytes(t, 2), 0o640); err != nil {
		t.Fatal(err)
	}
	if rec := env.get("/uploads/"+stray, session); rec.Code != http.StatusNotFound {
		t.Errorf("a file no cause shows: status %d, want 404", rec.Code)
	}
}

// An organiser's name loses bidirectional controls too: it is shown on
// their causes and in mails.
func TestOrganiserNameLosesBidiControls(t *testing.T) {
	in := OrganiserInput{Name: " Ana \u202Eevil\u202C\u2066 Org\u2069 ", Email: "ana@example.org", Password: "a long enough password"}
	if errs := in.Validate(); errs.Any() {
		t.Fatalf("Validate: %v", errs)
	}
	if want := "Ana evil Org"; in.Name != want {
		t.Errorf("name %q, want %q", in.Name, want)
	}
}
