package campaigns

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// reasonID is the id of the signature of email, whose comment is a reason.
func (env *siteEnv) reasonID(email string) int64 {
	env.t.Helper()
	var id int64
	if err := env.w.QueryRow(`SELECT id FROM signatures WHERE email = ?`, email).Scan(&id); err != nil {
		env.t.Fatal(err)
	}
	return id
}

// heartFrom gives a heart as a browser at ip holding cookie (nil: a browser
// that never gave one), asking for JSON or not; it returns the answer.
func (env *siteEnv) heartFrom(slug string, id int64, ip string, cookie *http.Cookie, asJSON bool) *httptest.ResponseRecorder {
	env.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/c/"+slug+"/comments/"+strconv.FormatInt(id, 10)+"/heart", nil)
	req.RemoteAddr = ip + ":40000"
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if asJSON {
		req.Header.Set("Accept", "application/json")
	}
	return env.serve(req, nil)
}

func heartCookieOf(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == heartCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie set", heartCookie)
	return nil
}

// Signers' public comments are the cause's reasons for signing; a heart
// needs no account and counts once per browser; the most liked lead.
func TestReasonsAndHearts(t *testing.T) {
	env := newSiteEnv(t)
	o, _ := env.organiser("olive@example.org", false, true)
	cz := env.ownedCause(o, "Clean air")
	public := url.Values{"public": {"1"}}
	env.signAndConfirm(cz.Slug, "Ada Lovelace", "ada@example.org", url.Values{"public": {"1"}, "comment": {"My daughter walks here."}})
	env.signAndConfirm(cz.Slug, "Bruno Diaz", "bruno@example.org", url.Values{"public": {"1"}, "comment": {"Clean air is not a luxury."}})
	env.signAndConfirm(cz.Slug, "Chloé Dubois", "chloe@example.org", public)
	env.signAndConfirm(cz.Slug, "Dan Smith", "dan@example.org", url.Values{"comment": {"Keep my name off the page."}})
	ada, bruno, chloe, dan := env.reasonID("ada@example.org"), env.reasonID("bruno@example.org"),
		env.reasonID("chloe@example.org"), env.reasonID("dan@example.org")

	page := env.get("/c/"+cz.Slug, nil).Body.String()
	for _, want := range []string{"My daughter walks here.", "Clean air is not a luxury.", "Chloé"} {
		if !strings.Contains(page, want) {
			t.Errorf("the cause page lacks %q", want)
		}
	}
	if strings.Contains(page, "Keep my name off the page.") {
		t.Error("the cause page shows the comment of a signer who did not agree to be shown")
	}
	if strings.Contains(page, "Most liked") {
		t.Error("the cause page has a most liked list before any heart")
	}

	// A browser's first heart sets its cookie and counts; its second,
	// with the cookie, does not; another browser's counts.
	first := env.heartFrom(cz.Slug, bruno, "198.51.100.7", nil, false)
	if first.Code != http.StatusSeeOther || first.Header().Get("Location") != "/c/"+cz.Slug+"#reason-"+strconv.FormatInt(bruno, 10) {
		t.Fatalf("heart: status %d, to %q", first.Code, first.Header().Get("Location"))
	}
	cookie := heartCookieOf(t, first)
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Errorf("heart cookie: HttpOnly %v, SameSite %v", cookie.HttpOnly, cookie.SameSite)
	}
	again := env.heartFrom(cz.Slug, bruno, "198.51.100.7", cookie, true)
	var j struct {
		Hearts int64 `json:"hearts"`
		Added  bool  `json:"added"`
	}
	if err := json.Unmarshal(again.Body.Bytes(), &j); err != nil || again.Code != http.StatusOK || j.Hearts != 1 || j.Added {
		t.Fatalf("the same browser's second heart: status %d, %s; want 1 heart, not added", again.Code, again.Body)
	}
	other := env.heartFrom(cz.Slug, bruno, "198.51.100.8", nil, true)
	if err := json.Unmarshal(other.Body.Bytes(), &j); err != nil || j.Hearts != 2 || !j.Added {
		t.Fatalf("another browser's heart: %s; want 2 hearts, added", other.Body)
	}
	if n := env.count(`SELECT hearts FROM signatures WHERE id = ?`, bruno); n != 2 {
		t.Errorf("Bruno's reason has %d hearts, want 2", n)
	}

	// Only shown reasons take hearts: not a signer without a comment, nor
	// one not shown, nor through another cause, nor a made-up id.
	other2 := env.ownedCause(o, "Quiet nights")
	for name, path := range map[string]string{
		"no comment":    "/c/" + cz.Slug + "/comments/" + strconv.FormatInt(chloe, 10) + "/heart",
		"not public":    "/c/" + cz.Slug + "/comments/" + strconv.FormatInt(dan, 10) + "/heart",
		"another cause": "/c/" + other2.Slug + "/comments/" + strconv.FormatInt(bruno, 10) + "/heart",
		"no such cause": "/c/no-such-cause/comments/" + strconv.FormatInt(bruno, 10) + "/heart",
		"made-up id":    "/c/" + cz.Slug + "/comments/12345/heart",
		"not a number":  "/c/" + cz.Slug + "/comments/x'--/heart",
	} {
		if rec := env.post(path, nil, nil); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", name, rec.Code)
		}
	}

	// Three hearts put Ada's reason above Bruno's two.
	for i := range 3 {
		env.heartFrom(cz.Slug, ada, "203.0.113."+strconv.Itoa(i+1), nil, true)
	}
	top := env.get("/c/"+cz.Slug+"/comments?sort=top", nil).Body.String()
	if a, b := strings.Index(top, "My daughter walks here."), strings.Index(top, "Clean air is not a luxury."); a < 0 || b < 0 || a > b {
		t.Errorf("most liked: Ada's reason at %d, Bruno's at %d; want Ada's first", a, b)
	}
	newest := env.get("/c/"+cz.Slug+"/comments", nil).Body.String()
	if a, b := strings.Index(newest, "My daughter walks here."), strings.Index(newest, "Clean air is not a luxury."); a < 0 || b < 0 || b > a {
		t.Errorf("newest: Ada's reason at %d, Bruno's at %d; want Bruno's (signed later) first", a, b)
	}
	page = env.get("/c/"+cz.Slug, nil).Body.String()
	liked := page[strings.Index(page, "Most liked"):]
	if a, b := strings.Index(liked, "My daughter walks here."), strings.Index(liked, "Clean air is not a luxury."); a < 0 || b < 0 || a > b {
		t.Errorf("the cause page's most liked: Ada's at %d, Bruno's at %d; want Ada's first", a, b)
	}

	// Without JavaScript the form goes back to the page of reasons it
	// came from, and nowhere else.
	for back, want := range map[string]string{
		"/c/" + cz.Slug + "/comments?sort=top&page=2": "/c/" + cz.Slug + "/comments?page=2&sort=top#reason-",
		"https://evil.example/c/" + cz.Slug:           "/c/" + cz.Slug + "#reason-",
		"//evil.example/":                             "/c/" + cz.Slug + "#reason-",
	} {
		req := httptest.NewRequest(http.MethodPost, "/c/"+cz.Slug+"/comments/"+strconv.FormatInt(ada, 10)+"/heart",
			strings.NewReader(url.Values{"back": {back}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = "192.0.2.200:1"
		if rec := env.serve(req, nil); !strings.HasPrefix(rec.Header().Get("Location"), want) {
			t.Errorf("back %q: to %q, want %q…", back, rec.Header().Get("Location"), want)
		}
	}
}

// One network gives one reason at most heartsPerNetwork hearts a day,
// however many browsers (or dropped cookies) it uses; others still can.
func TestHeartsPerNetwork(t *testing.T) {
	env := newSiteEnv(t)
	o, _ := env.organiser("olive@example.org", false, true)
	cz := env.ownedCause(o, "Clean air")
	env.signAndConfirm(cz.Slug, "Ada Lovelace", "ada@example.org", url.Values{"public": {"1"}, "comment": {"My daughter walks here."}})
	ada := env.reasonID("ada@example.org")
	for i := range heartsPerNetwork {
		if rec := env.heartFrom(cz.Slug, ada, "198.51.100."+strconv.Itoa(i+1), nil, true); rec.Code != http.StatusOK {
			t.Fatalf("heart %d: status %d", i+1, rec.Code)
		}
	}
	rec := env.heartFrom(cz.Slug, ada, "198.51.100.99", nil, false)
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "many hearts from your network") {
		t.Errorf("one heart too many: status %d; want 429 with a page that says why", rec.Code)
	}
	if rec := env.heartFrom(cz.Slug, ada, "203.0.113.5", nil, true); rec.Code != http.StatusOK {
		t.Errorf("another network: status %d", rec.Code)
	}
	if n := env.count(`SELECT hearts FROM signatures WHERE id = ?`, ada); n != heartsPerNetwork+1 {
		t.Errorf("%d hearts, want %d", n, heartsPerNetwork+1)
	}
}

// The organiser hides a comment: it leaves the cause page and the list of
// reasons and takes no hearts, while the signature counts and its signer
// shows. What an admin hid, the organiser cannot show again; another
// organiser cannot touch them.
func TestOrganiserHidesComment(t *testing.T) {
	env := newSiteEnv(t)
	o, session := env.organiser("olive@example.org", false, true)
	_, stranger := env.organiser("stranger@example.org", false, true)
	_, admin := env.organiser("admin@example.org", true, true)
	cz := env.ownedCause(o, "Clean air")
	env.signAndConfirm(cz.Slug, "Ada Lovelace", "ada@example.org", url.Values{"public": {"1"}, "comment": {"Something nasty about a neighbour"}})
	env.signAndConfirm(cz.Slug, "Bruno Diaz", "bruno@example.org", url.Values{"public": {"1"}, "comment": {"Clean air is not a luxury."}})
	ada, bruno := env.reasonID("ada@example.org"), env.reasonID("bruno@example.org")
	hide := func(id int64, session *http.Cookie) int {
		return env.post("/campaigns/"+cz.Slug+"/comments/"+strconv.FormatInt(id, 10)+"/hide", nil, session).Code
	}
	show := func(id int64, session *http.Cookie) int {
		return env.post("/campaigns/"+cz.Slug+"/comments/"+strconv.FormatInt(id, 10)+"/show", nil, session).Code
	}

	// The public pages of reasons are kept by shared caches only when
	// nobody is signed in: the organiser's has their name in its header.
	if cc := env.get("/c/"+cz.Slug+"/comments", session).Header().Get("Cache-Control"); cc != "private, no-store" {
		t.Errorf("the reasons page for a signed-in organiser: Cache-Control %q", cc)
	}
	if cc := env.get("/c/"+cz.Slug+"/comments", nil).Header().Get("Cache-Control"); !strings.HasPrefix(cc, "public") {
		t.Errorf("the reasons page for a visitor: Cache-Control %q", cc)
	}
	review := env.get("/campaigns/"+cz.Slug+"/comments", session)
	if review.Code != http.StatusOK || !strings.Contains(review.Body.String(), "Something nasty about a neighbour") {
		t.Fatalf("review page: status %d", review.Code)
	}
	if rec := env.get("/campaigns/"+cz.Slug+"/comments", stranger); rec.Code != http.StatusNotFound {
		t.Errorf("another organiser's review page: status %d, want 404", rec.Code)
	}
	if code := hide(ada, stranger); code != http.StatusNotFound {
		t.Errorf("another organiser hides: status %d, want 404", code)
	}

	if code := hide(ada, session); code != http.StatusSeeOther {
		t.Fatalf("hide: status %d", code)
	}
	for _, path := range []string{"/c/" + cz.Slug, "/c/" + cz.Slug + "/comments", "/c/" + cz.Slug + "/comments?sort=top"} {
		if body := env.get(path, nil).Body.String(); strings.Contains(body, "Something nasty") {
			t.Errorf("%s still shows the hidden comment", path)
		}
	}
	if body := env.get("/c/"+cz.Slug, nil).Body.String(); !strings.Contains(body, "Ada") || !strings.Contains(body, "Clean air is not a luxury.") {
		t.Error("hiding one comment took its signer or the other comment off the page")
	}
	if rec := env.heartFrom(cz.Slug, ada, "198.51.100.7", nil, true); rec.Code != http.StatusNotFound {
		t.Errorf("heart for a hidden comment: status %d, want 404", rec.Code)
	}
	if got := env.cause(cz.Slug).SignatureCount; got != 2 {
		t.Errorf("count after hiding a comment = %d, want 2", got)
	}
	if code := show(ada, session); code != http.StatusSeeOther || !strings.Contains(env.get("/c/"+cz.Slug, nil).Body.String(), "Something nasty") {
		t.Errorf("show again: status %d, or the comment is not back", code)
	}

	// An admin's hiding holds against the organiser.
	if rec := env.post("/admin/causes/"+cz.Slug+"/comments/hide", url.Values{"signature": {strconv.FormatInt(bruno, 10)}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("admin hides: status %d", rec.Code)
	}
	if code := show(bruno, session); code != http.StatusNotFound {
		t.Errorf("the organiser shows what an admin hid: status %d, want 404", code)
	}
	if body := env.get("/campaigns/"+cz.Slug+"/comments", session).Body.String(); !strings.Contains(body, "Hidden by the site’s moderators") {
		t.Error("the review page does not say an admin hid the comment")
	}
	if strings.Contains(env.get("/c/"+cz.Slug, nil).Body.String(), "Clean air is not a luxury.") {
		t.Error("the comment an admin hid is shown")
	}
	if n := env.count(`SELECT count(*) FROM moderation_log WHERE action = 'hide_comment'`); n != 1 {
		t.Errorf("%d hidings logged, want the admin's one", n)
	}
	if code := show(bruno, admin); code != http.StatusSeeOther || !strings.Contains(env.get("/c/"+cz.Slug, nil).Body.String(), "Clean air is not a luxury.") {
		t.Errorf("an admin shows it again: status %d, or it is not back", code)
	}
}
