package campaigns

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ownedCause makes a published cause of the organiser's and returns it.
func (env *siteEnv) ownedCause(o Organiser, title string) Cause {
	env.t.Helper()
	ctx := context.Background()
	c, err := env.store.CreateCause(ctx, o.ID, CauseInput{Title: title, Summary: "s", Target: "Mayor", Goal: 100, Lang: "en"}, "")
	if err != nil {
		env.t.Fatal(err)
	}
	if c, err = env.store.SetStatus(ctx, c.ID, Published); err != nil {
		env.t.Fatal(err)
	}
	return c
}

// confirmedSigner signs the cause from country and confirms it.
func (env *siteEnv) confirmedSigner(c Cause, email, country string, confirm bool) {
	env.t.Helper()
	sg := testSigning(c, email)
	sg.In.Country = country
	if _, err := env.store.Sign(context.Background(), sg); err != nil {
		env.t.Fatal(err)
	}
	if confirm {
		if _, err := env.store.Confirm(context.Background(), sg.Token); err != nil {
			env.t.Fatal(err)
		}
	}
}

// Atom structs as a feed reader reads them.
type testAtomLink struct {
	Rel  string `xml:"rel,attr"`
	Href string `xml:"href,attr"`
}

type testAtom struct {
	XMLName xml.Name       `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string         `xml:"id"`
	Title   string         `xml:"title"`
	Updated string         `xml:"updated"`
	Links   []testAtomLink `xml:"link"`
	Entries []struct {
		ID      string         `xml:"id"`
		Title   string         `xml:"title"`
		Updated string         `xml:"updated"`
		Links   []testAtomLink `xml:"link"`
		Content struct {
			Type string `xml:"type,attr"`
			Body string `xml:",chardata"`
		} `xml:"content"`
	} `xml:"entry"`
}

func parseAtom(t *testing.T, body []byte) testAtom {
	t.Helper()
	var f testAtom
	if err := xml.Unmarshal(body, &f); err != nil {
		t.Fatalf("the feed is not Atom: %v\n%s", err, body)
	}
	return f
}

// An update the organiser posts shows on the cause page at once (the
// cached page forgets itself), newest first, each at its own anchor, its
// Markdown rendered and sanitised; it is in the Atom feed, and edits and
// deletions show at once too.
func TestUpdatesOnCausePageAndFeed(t *testing.T) {
	env := newSiteEnv(t)
	o, session := env.organiser("owner@example.org", false, true)
	cz := env.ownedCause(o, "Clean air")
	page := "/c/" + cz.Slug
	if got := env.get(page, nil).Body.String(); strings.Contains(got, "updates-heading") {
		t.Fatal("a cause with no update shows an updates section")
	}
	feedBefore := env.get(page+"/updates.atom", nil)
	if feedBefore.Code != http.StatusOK {
		t.Fatalf("feed: status %d", feedBefore.Code)
	}

	post := func(title, body string, email bool) string {
		form := url.Values{"title": {title}, "body": {body}}
		if email {
			form.Set("email", "1")
		}
		rec := env.post("/campaigns/"+cz.Slug+"/updates", form, session)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("post update: status %d\n%s", rec.Code, rec.Body)
		}
		return rec.Header().Get("Location")
	}
	first := post("We met the mayor", "It went **well**.", false)
	env.now = env.now.Add(time.Hour)
	post("{{.Cause.Title}} <b>hi</b>", "Next: <script>alert(1)</script> [x](javascript:alert(2)) {{printf \"%s\" 1}}", true)

	got := env.get(page, nil).Body.String()
	i, j := strings.Index(got, "{{.Cause.Title}} &lt;b&gt;hi&lt;/b&gt;"), strings.Index(got, "We met the mayor")
	if i < 0 || j < 0 || i > j {
		t.Fatalf("updates not both shown, newest first (at %d and %d)", i, j)
	}
	if !strings.Contains(got, "<strong>well</strong>") {
		t.Error("the update's Markdown is not rendered")
	}
	if strings.Contains(got, "<script>alert(1)") || strings.Contains(got, "javascript:alert") {
		t.Error("an update's markup runs on the cause page")
	}
	if !strings.Contains(got, `{{printf &#34;%s&#34; 1}}`) && !strings.Contains(got, `{{printf "%s" 1}}`) {
		t.Error("template placeholders in an update are not shown as typed")
	}
	anchor := first[strings.Index(first, "#")+1:]
	if !regexp.MustCompile(`^update-\d+$`).MatchString(anchor) || !strings.Contains(got, `id="`+anchor+`"`) {
		t.Errorf("the update's anchor %q is not on the page", anchor)
	}
	if n := env.count(`SELECT count(*) FROM cause_updates WHERE email_asked = 1`); n != 1 {
		t.Errorf("%d updates record a request to email them, want 1", n)
	}

	feed := env.get(page+"/updates.atom", nil)
	if ct := feed.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/atom+xml") {
		t.Errorf("feed content type %q", ct)
	}
	f := parseAtom(t, feed.Body.Bytes())
	if f.ID != "http://rally.test"+page+"/updates.atom" || f.Title != "Clean air" {
		t.Errorf("feed id %q, title %q", f.ID, f.Title)
	}
	if _, err := time.Parse(time.RFC3339, f.Updated); err != nil || f.Updated != env.now.Format(time.RFC3339) {
		t.Errorf("feed updated %q, want %s", f.Updated, env.now.Format(time.RFC3339))
	}
	rels := map[string]string{}
	for _, l := range f.Links {
		rels[l.Rel] = l.Href
	}
	if rels["self"] != f.ID || rels["alternate"] != "http://rally.test"+page {
		t.Errorf("feed links %v", rels)
	}
	if len(f.Entries) != 2 {
		t.Fatalf("%d entries, want 2", len(f.Entries))
	}
	e := f.Entries[1]
	if e.Title != "We met the mayor" || e.ID != "http://rally.test"+page+"#"+anchor || len(e.Links) != 1 || e.Links[0].Href != e.ID ||
		e.Content.Type != "html" || !strings.Contains(e.Content.Body, "<strong>well</strong>") {
		t.Errorf("entry %+v", e)
	}
	if strings.Contains(f.Entries[0].Content.Body, "<script") {
		t.Error("the feed carries an update's script")
	}

	// Edit, then delete: the page shows each at once.
	id := strings.TrimPrefix(anchor, "update-")
	if rec := env.post("/campaigns/"+cz.Slug+"/updates/"+id+"/edit", url.Values{"title": {"We met the mayor again"}, "body": {"Twice."}}, session); rec.Code != http.StatusSeeOther {
		t.Fatalf("edit: status %d", rec.Code)
	}
	if got := env.get(page, nil).Body.String(); !strings.Contains(got, "We met the mayor again") {
		t.Error("the edit is not on the page")
	}
	if rec := env.post("/campaigns/"+cz.Slug+"/updates/"+id+"/delete", nil, session); rec.Code != http.StatusSeeOther {
		t.Fatalf("delete: status %d", rec.Code)
	}
	if got := env.get(page, nil).Body.String(); strings.Contains(got, "We met the mayor") || strings.Contains(got, `id="`+anchor+`"`) {
		t.Error("the deleted update is still on the page")
	}
	if f := parseAtom(t, env.get(page+"/updates.atom", nil).Body.Bytes()); len(f.Entries) != 1 {
		t.Errorf("%d entries after a deletion, want 1", len(f.Entries))
	}
}

// Another organiser cannot see, post, edit or delete the updates of a
// cause not theirs, nor reach one cause's update through another cause
// of their own; a draft has no feed.
func TestUpdatesAreTheOrganisersAlone(t *testing.T) {
	env := newSiteEnv(t)
	o, owner := env.organiser("owner@example.org", false, true)
	other, stranger := env.organiser("stranger@example.org", false, true)
	cz := env.ownedCause(o, "Clean air")
	theirs := env.ownedCause(other, "Quiet streets")
	u, err := env.store.CreateUpdate(context.Background(), cz.ID, o.ID, UpdateInput{Title: "Kept", BodyMD: "Body"})
	if err != nil {
		t.Fatal(err)
	}
	id := u.Anchor()[len("update-"):]
	form := url.Values{"title": {"Taken"}, "body": {"Over"}}
	for _, tt := range []struct {
		method, path string
	}{
		{"GET", "/campaigns/" + cz.Slug + "/updates"},
		{"POST", "/campaigns/" + cz.Slug + "/updates"},
		{"GET", "/campaigns/" + cz.Slug + "/updates/" + id + "/edit"},
		{"POST", "/campaigns/" + cz.Slug + "/updates/" + id + "/edit"},
		{"POST", "/campaigns/" + cz.Slug + "/updates/" + id + "/delete"},
		{"POST", "/campaigns/" + cz.Slug + "/victory"},
		// Their own cause, someone else's update.
		{"GET", "/campaigns/" + theirs.Slug + "/updates/" + id + "/edit"},
		{"POST", "/campaigns/" + theirs.Slug + "/updates/" + id + "/edit"},
		{"POST", "/campaigns/" + theirs.Slug + "/updates/" + id + "/delete"},
		{"GET", "/campaigns/" + cz.Slug + "/updates/nope/edit"},
	} {
		var rec *httptest.ResponseRecorder
		if tt.method == "GET" {
			rec = env.get(tt.path, stranger)
		} else {
			rec = env.post(tt.path, form, stranger)
		}
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s %s by another organiser: status %d, want 404", tt.method, tt.path, rec.Code)
		}
	}
	if n := env.count(`SELECT count(*) FROM cause_updates WHERE title = 'Kept' AND body_md = 'Body'`); n != 1 {
		t.Error("another organiser changed the update")
	}
	if n := env.count(`SELECT count(*) FROM cause_updates`); n != 1 {
		t.Errorf("%d updates, want 1", n)
	}
	if env.cause(cz.Slug).Status != Published {
		t.Error("another organiser declared the cause won")
	}
	if rec := env.get("/campaigns/"+cz.Slug+"/updates/"+id+"/edit", owner); rec.Code != http.StatusOK {
		t.Errorf("the owner's edit page: status %d", rec.Code)
	}
	draft, err := env.store.CreateCause(context.Background(), o.ID, CauseInput{Title: "Secret", Summary: "s", Target: "t", Goal: 10, Lang: "en"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if rec := env.get("/c/"+draft.Slug+"/updates.atom", nil); rec.Code != http.StatusNotFound {
		t.Errorf("a draft's feed: status %d, want 404", rec.Code)
	}
}

// Bad update input comes back 422 with the message by the field and what
// was typed, and writes nothing.
func TestUpdateFormRefusesBadInput(t *testing.T) {
	env := newSiteEnv(t)
	o, session := env.organiser("owner@example.org", false, true)
	cz := env.ownedCause(o, "Clean air")
	for _, tt := range []struct {
		name  string
		form  url.Values
		field string
	}{
		{"no title", url.Values{"title": {"  "}, "body": {"kept <text>"}}, "title-error"},
		{"no body", url.Values{"title": {"kept <text>"}, "body": {""}}, "body-error"},
		{"huge title", url.Values{"title": {strings.Repeat("t", MaxUpdateTitle+1)}, "body": {"kept <text>"}}, "title-error"},
		{"huge body", url.Values{"title": {"kept <text>"}, "body": {strings.Repeat("b", MaxUpdateBody+1)}}, "body-error"},
		{"control characters", url.Values{"title": {"a\x00b"}, "body": {"kept <text>"}}, "title-error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := env.post("/campaigns/"+cz.Slug+"/updates", tt.form, session)
			if rec.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", rec.Code)
			}
			body := rec.Body.String()
			if !strings.Contains(body, `id="`+tt.field+`"`) {
				t.Errorf("no message by the field (%s)", tt.field)
			}
			if !strings.Contains(body, "kept &lt;text&gt;") {
				t.Error("what was typed is not kept")
			}
		})
	}
	if n := env.count(`SELECT count(*) FROM cause_updates`); n != 0 {
		t.Errorf("%d updates written", n)
	}
	rec := env.post("/campaigns/"+cz.Slug+"/victory", url.Values{"victory_message": {strings.Repeat("v", MaxVictoryMessage+1)}}, session)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `id="victory_message-error"`) {
		t.Errorf("a huge victory message: status %d, want 422 with the message by the field", rec.Code)
	}
	if env.cause(cz.Slug).Status != Published {
		t.Error("a refused victory message declared victory")
	}
}

// A cause declared won shows a banner with the organiser's words, as
// typed, at once; the words can be changed after.
func TestVictoryBannerShowsTheOrganisersWords(t *testing.T) {
	env := newSiteEnv(t)
	o, session := env.organiser("owner@example.org", false, true)
	cz := env.ownedCause(o, "Clean air")
	page := "/c/" + cz.Slug
	if got := env.get(page, nil).Body.String(); strings.Contains(got, "victory-banner") {
		t.Fatal("an open cause shows a victory banner")
	}
	words := "The council said yes! <img src=x onerror=alert(1)> {{.Cause.Title}}"
	if rec := env.post("/campaigns/"+cz.Slug+"/victory", url.Values{"victory_message": {words}}, session); rec.Code != http.StatusSeeOther {
		t.Fatalf("declare victory: status %d\n%s", rec.Code, rec.Body)
	}
	got := env.get(page, nil).Body.String()
	if !strings.Contains(got, `class="victory-banner"`) || !strings.Contains(got, "The council said yes! &lt;img src=x onerror=alert(1)&gt; {{.Cause.Title}}") {
		t.Errorf("no victory banner with the words as typed:\n%s", got)
	}
	var j struct{ Status string }
	if err := json.Unmarshal(env.get(page+".json", nil).Body.Bytes(), &j); err != nil || j.Status != "victory" {
		t.Errorf("JSON status %q (%v), want victory", j.Status, err)
	}
	if rec := env.post("/campaigns/"+cz.Slug+"/victory", url.Values{"victory_message": {"Thank you all."}}, session); rec.Code != http.StatusSeeOther {
		t.Fatalf("change the words: status %d", rec.Code)
	}
	if got := env.get(page, nil).Body.String(); !strings.Contains(got, "Thank you all.") || strings.Contains(got, "The council said yes") {
		t.Error("the changed words are not shown")
	}
}

// The JSON's signatures_by_country counts confirmed signatures only, by
// upper-case code; the cause page and the dashboard show the same counts
// as a table and an SVG chart with a text alternative, and the dashboard
// the signatures a day.
func TestSignaturesByCountry(t *testing.T) {
	env := newSiteEnv(t)
	o, session := env.organiser("owner@example.org", false, true)
	cz := env.ownedCause(o, "Clean air")
	var j struct {
		ByCountry map[string]int64 `json:"signatures_by_country"`
	}
	raw := env.get("/c/"+cz.Slug+".json", nil).Body.Bytes()
	if err := json.Unmarshal(raw, &j); err != nil || j.ByCountry == nil || len(j.ByCountry) != 0 {
		t.Fatalf("before any signature: %s (%v), want signatures_by_country {}", raw, err)
	}
	for i, c := range []string{"FR", "FR", "FR", "BE", "fr"} {
		env.confirmedSigner(cz, "s"+string(rune('a'+i))+"@example.org", c, true)
	}
	env.confirmedSigner(cz, "pending@example.org", "DE", false)
	env.now = env.now.Add(24 * time.Hour)
	env.confirmedSigner(cz, "later@example.org", "BE", true)

	raw = env.get("/c/"+cz.Slug+".json", nil).Body.Bytes()
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"FR": 4, "BE": 2}
	if len(j.ByCountry) != len(want) || j.ByCountry["FR"] != 4 || j.ByCountry["BE"] != 2 {
		t.Errorf("signatures_by_country %v, want %v", j.ByCountry, want)
	}

	page := env.get("/c/"+cz.Slug, nil).Body.String()
	for _, want := range []string{`<svg class="chart bars"`, `role="img"`, `<title id="countries-svg-title">`,
		`<td>France</td><td class="num">4</td><td class="num">66.7%</td>`, `<td>Belgium</td><td class="num">2</td>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the cause page lacks %q", want)
		}
	}
	if fr := env.get("/c/"+cz.Slug+"?lang=fr", nil).Body.String(); !strings.Contains(fr, "<td>France</td><td class=\"num\">4</td><td class=\"num\">66,7\u00a0%</td>") {
		t.Error("the French cause page does not give the share the French way")
	}
	if strings.Contains(page, "<td>Germany</td>") {
		t.Error("an unconfirmed signature is counted on the cause page")
	}
	dash := env.get("/campaigns/"+cz.Slug, session).Body.String()
	for _, want := range []string{`<svg class="chart columns"`, `<svg class="chart bars"`, `<td>France</td>`,
		`<time datetime="2026-11-25">`, `<time datetime="2026-11-26">`} {
		if !strings.Contains(dash, want) {
			t.Errorf("the dashboard lacks %q", want)
		}
	}
	days, err := env.store.SignaturesByDay(context.Background(), cz.ID, env.now, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 3 || days[0].Count != 0 || days[1].Count != 5 || days[2].Count != 1 {
		t.Errorf("signatures a day %+v, want 0, 5, 1", days)
	}
}

// The breakdowns hold through the group-commit writer's batches: many
// confirmations at once count once each, by country.
func TestSignaturesByCountryUnderConcurrentConfirmations(t *testing.T) {
	env := newSiteEnv(t)
	o, _ := env.organiser("owner@example.org", false, true)
	cz := env.ownedCause(o, "Clean air")
	countries := []string{"FR", "BE", "DE", "IT"}
	var tokens []string
	for i := range 40 {
		sg := testSigning(cz, "many"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@example.org")
		sg.In.Country = countries[i%len(countries)]
		if _, err := env.store.Sign(context.Background(), sg); err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, sg.Token)
	}
	errs := make(chan error, len(tokens))
	for _, tok := range tokens {
		go func() {
			_, err := env.store.Confirm(context.Background(), tok)
			errs <- err
		}()
	}
	for range tokens {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := env.store.SignaturesByCountry(context.Background(), cz.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("countries %+v, want 4", got)
	}
	for _, c := range got {
		if c.Count != 10 {
			t.Errorf("%s: %d, want 10", c.Country, c.Count)
		}
	}
}

func (env *siteEnv) profileForm(session *http.Cookie, fields map[string]string, logo []byte) *httptest.ResponseRecorder {
	env.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if logo != nil {
		fw, _ := mw.CreateFormFile("logo", "logo.png")
		fw.Write(logo)
	}
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, "/account/organisation", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return env.serve(req, session)
}

// An organiser sets a handle and profile; /org/{handle} shows them with
// only the public causes, its website as a nofollow link, and its logo;
// the cause page links to it.
func TestOrganisationPageListsOnlyPublicCauses(t *testing.T) {
	env := newSiteEnv(t)
	o, session := env.organiser("owner@example.org", false, true)
	open := env.ownedCause(o, "Clean air")
	won := env.ownedCause(o, "Safe crossings")
	if _, err := env.store.DeclareVictory(context.Background(), won.ID, "Yes"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.store.CreateCause(context.Background(), o.ID, CauseInput{Title: "Secret plan", Summary: "s", Target: "t", Goal: 10, Lang: "en"}, ""); err != nil {
		t.Fatal(err)
	}
	env.confirmedSigner(open, "a@example.org", "FR", true)
	if rec := env.get("/org/friends-of-air", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("an unset handle: status %d, want 404", rec.Code)
	}
	rec := env.profileForm(session, map[string]string{"handle": " Friends-of-Air ", "org_name": "Friends of <Air>",
		"about": "We {{.Want}} clean air.", "website": "https://air.example.org/about"}, pictureBytes(t, 1))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("save profile: status %d\n%s", rec.Code, rec.Body)
	}
	rec = env.get("/org/friends-of-air", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("org page: status %d", rec.Code)
	}
	got := rec.Body.String()
	for _, want := range []string{"<h1>Friends of &lt;Air&gt;</h1>", "We {{.Want}} clean air.",
		`<a href="https://air.example.org/about" rel="nofollow ugc noopener"`, "Clean air", "Safe crossings",
		`id="org-victories-heading"`, `<span class="n">1</span>`} {
		if !strings.Contains(got, want) {
			t.Errorf("the org page lacks %q", want)
		}
	}
	if strings.Contains(got, "Secret plan") {
		t.Error("the org page lists a draft")
	}
	logo := regexp.MustCompile(`class="org-logo" src="(/uploads/[a-f0-9]{32}\.png)"`).FindStringSubmatch(got)
	if logo == nil {
		t.Fatal("no logo on the org page")
	}
	if rec := env.get(logo[1], nil); rec.Code != http.StatusOK {
		t.Errorf("the logo: status %d", rec.Code)
	}
	if page := env.get("/c/"+open.Slug, nil).Body.String(); !strings.Contains(page, `<a class="org-link" href="/org/friends-of-air">Friends of &lt;Air&gt;</a>`) {
		t.Error("the cause page does not link to its organisation")
	}
}

// Bad handles and websites are refused with 422 and the message by the
// field, what was typed kept, nothing saved; a handle another has is taken.
func TestOrganisationProfileRefusesBadInput(t *testing.T) {
	env := newSiteEnv(t)
	_, first := env.organiser("first@example.org", false, true)
	_, session := env.organiser("second@example.org", false, true)
	if rec := env.profileForm(first, map[string]string{"handle": "taken", "org_name": "First"}, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("first profile: status %d", rec.Code)
	}
	for _, tt := range []struct {
		name, handle, website, field string
	}{
		{"too short", "ab", "", "handle"},
		{"too long", strings.Repeat("a", 31), "", "handle"},
		{"spaces", "my org", "", "handle"},
		{"hyphen first", "-org", "", "handle"},
		{"accents", "café", "", "handle"},
		{"markup", "<b>x</b>", "", "handle"},
		{"placeholder", "{{.x}}", "", "handle"},
		{"reserved", "admin", "", "handle"},
		{"reserved, upper-case", "Dashboard", "", "handle"},
		{"taken", "taken", "", "handle"},
		{"javascript site", "fine-handle", "javascript:alert(1)", "website"},
		{"no scheme", "fine-handle", "example.org", "website"},
		{"ftp", "fine-handle", "ftp://example.org", "website"},
		{"huge site", "fine-handle", "https://example.org/" + strings.Repeat("a", 300), "website"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := env.profileForm(session, map[string]string{"handle": tt.handle, "org_name": "Second <org>", "website": tt.website}, nil)
			if rec.Code != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", rec.Code)
			}
			body := rec.Body.String()
			if !strings.Contains(body, `id="`+tt.field+`-error"`) {
				t.Errorf("no message by the %s field", tt.field)
			}
			if !strings.Contains(body, `value="Second &lt;org&gt;"`) {
				t.Error("the name typed is not kept")
			}
		})
	}
	if n := env.count(`SELECT count(*) FROM organisers WHERE handle IS NOT NULL`); n != 1 {
		t.Errorf("%d handles saved, want 1", n)
	}
	if rec := env.profileForm(session, map[string]string{"handle": "", "org_name": strings.Repeat("n", MaxOrgName+1)}, nil); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("a huge name: status %d, want 422", rec.Code)
	}
	if rec := env.profileForm(session, map[string]string{"handle": "second", "org_name": ""}, nil); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("a page with no name: status %d, want 422", rec.Code)
	}
}

// A database from before migration 011 comes out with its confirmed
// signatures counted by country (upper-cased) and by day, its causes
// found by search (010's step runs with the columns of its time), and no
// organisation page.
func TestPresenceMigrationCountsExistingSignatures(t *testing.T) {
	w, apply := migrationDB(t)
	names, err := fs.Glob(Migrations(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if name == "010_search.sql" {
			break
		}
		apply(name)
	}
	day1 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	for _, q := range []string{
		`INSERT INTO organisers (id, email, email_key, name, password_hash, created_at, updated_at)
			VALUES (1, 'o@example.org', 'o@example.org', 'O', 'x', ?1, ?1)`,
		`INSERT INTO causes (id, organiser_id, slug, title, summary, target, status, signature_count, created_at, updated_at)
			VALUES (1, 1, 'ecoles', 'Des écoles sûres', 's', 't', 'published', 4, ?1, ?1)`,
		`INSERT INTO supporters (id, email, email_key, name, created_at, updated_at) VALUES
			(1, 'a@example.org', 'a@example.org', 'A', ?1, ?1), (2, 'b@example.org', 'b@example.org', 'B', ?1, ?1),
			(3, 'c@example.org', 'c@example.org', 'C', ?1, ?1), (4, 'd@example.org', 'd@example.org', 'D', ?1, ?1)`,
		`INSERT INTO signatures (id, cause_id, supporter_id, email, email_key, name, country, token_hash, token_expires_at, confirmed_at, created_at) VALUES
			(100, 1, 1, 'a@example.org', 'a@example.org', 'A', 'FR', 'h1', ?1, ?1, ?1),
			(101, 1, 2, 'b@example.org', 'b@example.org', 'B', 'fr', 'h2', ?1, ?2, ?1),
			(102, 1, 3, 'c@example.org', 'c@example.org', 'C', 'BE', 'h3', ?1, ?2, ?1),
			(103, 1, 4, 'd@example.org', 'd@example.org', 'D', '', 'h4', ?1, ?2, ?1),
			(104, 1, NULL, 'e@example.org', 'e@example.org', 'E', 'DE', 'h5', ?1, NULL, ?1)`,
	} {
		if _, err := w.Exec(q, day1, day2); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, name := range names {
		if name >= "010_search.sql" {
			apply(name)
		}
	}
	got := map[string]int{}
	rows, err := w.Query(`SELECT country, signatures FROM cause_countries WHERE cause_id = 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		var n int
		if err := rows.Scan(&c, &n); err != nil {
			t.Fatal(err)
		}
		got[c] = n
	}
	rows.Close()
	if len(got) != 3 || got["FR"] != 2 || got["BE"] != 1 || got[""] != 1 {
		t.Errorf("by country %v, want FR 2, BE 1, none 1", got)
	}
	var d1, d2 int
	if err := w.QueryRow(`SELECT (SELECT signatures FROM cause_days WHERE day = '2026-11-20'), (SELECT signatures FROM cause_days WHERE day = '2026-11-21')`).Scan(&d1, &d2); err != nil || d1 != 1 || d2 != 3 {
		t.Errorf("by day %d, %d (%v), want 1, 3", d1, d2, err)
	}
	var indexed int
	if err := w.QueryRow(`SELECT count(*) FROM cause_search WHERE cause_search MATCH 'ecole*'`).Scan(&indexed); err != nil || indexed != 1 {
		t.Errorf("search index holds %d causes (%v), want 1", indexed, err)
	}
	var handles int
	if err := w.QueryRow(`SELECT count(*) FROM organisers WHERE handle IS NOT NULL`).Scan(&handles); err != nil || handles != 0 {
		t.Errorf("%d handles after the migration (%v), want none", handles, err)
	}
}

// An organisation page counts the people behind its causes once each,
// however many of them they signed, beside the signatures.
func TestOrganisationPageCountsPeopleOnce(t *testing.T) {
	env := newSiteEnv(t)
	o, session := env.organiser("owner@example.org", false, true)
	air := env.ownedCause(o, "Clean air")
	trees := env.ownedCause(o, "Trees")
	env.confirmedSigner(air, "ada@example.org", "FR", true)
	env.confirmedSigner(trees, "ada@example.org", "FR", true)
	env.confirmedSigner(trees, "bob@example.org", "FR", true)
	env.confirmedSigner(trees, "pending@example.org", "FR", false)
	if rec := env.profileForm(session, map[string]string{"handle": "friends-of-air", "org_name": "Friends of Air"}, nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("save profile: status %d", rec.Code)
	}
	page := env.get("/org/friends-of-air", nil).Body.String()
	for _, want := range []string{`<span class="n">2</span> people have signed its causes`, "3 signatures on its causes"} {
		if !strings.Contains(page, want) {
			t.Errorf("the org page lacks %q", want)
		}
	}
}
