package campaigns

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rallyhq/rally/templates"
)

// updateSigner signs the cause asking for updates, and confirms it.
func (env *siteEnv) updateSigner(c Cause, email string) {
	env.t.Helper()
	sg := testSigning(c, email)
	sg.In.Updates = true
	if _, err := env.store.Sign(context.Background(), sg); err != nil {
		env.t.Fatal(err)
	}
	if _, err := env.store.Confirm(context.Background(), sg.Token); err != nil {
		env.t.Fatal(err)
	}
}

// postUpdate posts the update form to target, as a browser in lang does.
func (env *siteEnv) postUpdate(target string, form url.Values, session *http.Cookie, lang string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", lang)
	return env.serve(req, session)
}

// follow opens where a 303 leads, with the session and the notice the
// redirect set, and returns the page.
func (env *siteEnv) follow(rec *httptest.ResponseRecorder, session *http.Cookie) string {
	env.t.Helper()
	if rec.Code != http.StatusSeeOther {
		env.t.Fatalf("status %d, want 303\n%s", rec.Code, rec.Body)
	}
	loc, _, _ := strings.Cut(rec.Header().Get("Location"), "#")
	req := httptest.NewRequest(http.MethodGet, loc, nil)
	for _, c := range rec.Result().Cookies() {
		if c.Name == templates.FlashCookie {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	page := env.serve(req, session)
	if page.Code != http.StatusOK {
		env.t.Fatalf("GET %s: status %d", req.URL, page.Code)
	}
	return page.Body.String()
}

type draftRow struct {
	ID                                    int64
	Status, Subject, Body, Label, CTA, FR string
}

func (env *siteEnv) blastRows() []draftRow {
	env.t.Helper()
	rows, err := env.w.Query(`SELECT id, status, subject, body_md, cta_label, cta_url, subject_fr FROM blasts ORDER BY id`)
	if err != nil {
		env.t.Fatal(err)
	}
	defer rows.Close()
	var out []draftRow
	for rows.Next() {
		var d draftRow
		if err := rows.Scan(&d.ID, &d.Status, &d.Subject, &d.Body, &d.Label, &d.CTA, &d.FR); err != nil {
			env.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

var blastLocation = regexp.MustCompile(`^/campaigns/[a-z0-9-]+/blasts/(\d+)$`)

// An update posted with the email box ticked becomes a draft blast with
// its title, its text and a call to action leading to it on the cause's
// page; the organiser lands on the blast's page, which shows the preview,
// the audience and the confirmation, and nothing is sent. The updates list
// links to the email; ticking again when editing makes no second one.
func TestUpdateEmailBecomesADraftBlast(t *testing.T) {
	env := newSiteEnv(t)
	o, session := env.organiser("owner@example.org", false, true)
	cz := env.ownedCause(o, "Clean air")
	env.updateSigner(cz, "ada@example.org")
	env.updateSigner(cz, "bob@example.org")

	form := url.Values{"title": {"We met the mayor"}, "body": {"It went **well**, {first_name|friend}."}, "email": {"1"}}
	rec := env.postUpdate("/campaigns/"+cz.Slug+"/updates", form, session, "en")
	loc := rec.Header().Get("Location")
	m := blastLocation.FindStringSubmatch(loc)
	if rec.Code != http.StatusSeeOther || m == nil {
		t.Fatalf("post: status %d, Location %q; want 303 to the blast's page", rec.Code, loc)
	}
	us, err := env.store.ListUpdates(context.Background(), cz.ID, 10)
	if err != nil || len(us) != 1 {
		t.Fatalf("updates %v, %v", us, err)
	}
	u := us[0]
	blasts := env.blastRows()
	if len(blasts) != 1 {
		t.Fatalf("%d blasts, want 1", len(blasts))
	}
	b := blasts[0]
	want := draftRow{ID: b.ID, Status: "draft", Subject: "We met the mayor", Body: "It went **well**, {first_name|friend}.",
		Label: "Read the update", CTA: "http://rally.test/c/" + cz.Slug + "#update-" + strconv.FormatInt(u.ID, 10)}
	if b != want {
		t.Errorf("blast\n got %+v\nwant %+v", b, want)
	}
	if m[1] != strconv.FormatInt(b.ID, 10) || u.BlastID != b.ID {
		t.Errorf("redirect to blast %s, update remembers %d; the blast is %d", m[1], u.BlastID, b.ID)
	}
	if n := env.count(`SELECT count(*) FROM outbox`); n != 2 {
		t.Errorf("%d mails queued, want only the 2 signing confirmations: nothing is sent before the organiser confirms", n)
	}

	page := env.follow(rec, session)
	for _, s := range []string{"Update posted. Its email is ready", "Send to 2 people?", "We met the mayor"} {
		if !strings.Contains(page, s) {
			t.Errorf("the blast's page lacks %q", s)
		}
	}

	list := env.get("/campaigns/"+cz.Slug+"/updates", session).Body.String()
	if !strings.Contains(list, `<a href="`+loc+`">`) || !strings.Contains(list, "Draft") {
		t.Error("the updates list does not link to the update's email and its status")
	}
	edit := env.get("/campaigns/"+cz.Slug+"/updates/"+strconv.FormatInt(u.ID, 10)+"/edit", session).Body.String()
	if strings.Contains(edit, `name="email"`) || !strings.Contains(edit, `href="`+loc+`"`) {
		t.Error("the edit page offers a second email, or does not link to the first")
	}
	// A stale form ticks it again: no second draft.
	rec = env.postUpdate("/campaigns/"+cz.Slug+"/updates/"+strconv.FormatInt(u.ID, 10)+"/edit",
		url.Values{"title": {"We met the mayor again"}, "body": {"Twice."}, "email": {"1"}}, session, "en")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/campaigns/"+cz.Slug+"/updates") {
		t.Errorf("edit: status %d, Location %q; want 303 to the updates", rec.Code, rec.Header().Get("Location"))
	}
	if n := len(env.blastRows()); n != 1 {
		t.Errorf("%d blasts after an edit ticking the box again, want 1", n)
	}

	// In French, the call to action is in French.
	rec = env.postUpdate("/campaigns/"+cz.Slug+"/updates", url.Values{"title": {"Rencontre"}, "body": {"Bien."}, "email": {"1"}}, session, "fr")
	if !blastLocation.MatchString(rec.Header().Get("Location")) {
		t.Fatalf("French post: status %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
	if b := env.blastRows()[1]; b.Label != "Lire la nouvelle" {
		t.Errorf("French call to action %q", b.Label)
	}
}

// Without the box ticked there is no email; ticking it when editing makes
// one then. An organiser whose address is not confirmed, or whose update
// holds braces emails cannot read, gets the update posted and a plain
// reason for no email. Another organiser gets 404 and makes nothing.
func TestUpdateEmailOnlyWhenAskedAndPossible(t *testing.T) {
	env := newSiteEnv(t)
	o, session := env.organiser("owner@example.org", false, true)
	_, stranger := env.organiser("stranger@example.org", false, true)
	cz := env.ownedCause(o, "Clean air")

	rec := env.postUpdate("/campaigns/"+cz.Slug+"/updates", url.Values{"title": {"Quiet"}, "body": {"Only here."}}, session, "en")
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/campaigns/"+cz.Slug+"/updates#update-") {
		t.Fatalf("unticked: status %d, Location %q", rec.Code, loc)
	}
	if n := len(env.blastRows()); n != 0 {
		t.Fatalf("%d blasts for an update not asked to be mailed", n)
	}
	id := strings.TrimPrefix(rec.Header().Get("Location"), "/campaigns/"+cz.Slug+"/updates#update-")
	rec = env.postUpdate("/campaigns/"+cz.Slug+"/updates/"+id+"/edit", url.Values{"title": {"Quiet"}, "body": {"Now mailed."}, "email": {"1"}}, session, "en")
	if !blastLocation.MatchString(rec.Header().Get("Location")) {
		t.Fatalf("ticked on edit: status %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
	if page := env.follow(rec, session); !strings.Contains(page, "Update saved. Its email is ready") {
		t.Error("the blast's page does not say the edited update's email is ready")
	}
	if b := env.blastRows(); len(b) != 1 || b[0].Body != "Now mailed." {
		t.Errorf("blasts %+v, want one with the edited text", b)
	}

	// Braces that are not tags: posted, no email, and why.
	rec = env.postUpdate("/campaigns/"+cz.Slug+"/updates", url.Values{"title": {"Code"}, "body": {"Use {name} here."}, "email": {"1"}}, session, "en")
	if page := env.follow(rec, session); !strings.Contains(page, "no email was prepared: emails read words in braces as tags") {
		t.Error("an update with braces does not say why it got no email")
	}
	if n := len(env.blastRows()); n != 1 {
		t.Errorf("%d blasts, want 1", n)
	}

	// Another organiser: 404, nothing written.
	for _, path := range []string{"/campaigns/" + cz.Slug + "/updates", "/campaigns/" + cz.Slug + "/updates/" + id + "/edit"} {
		rec := env.postUpdate(path, url.Values{"title": {"Taken"}, "body": {"Over"}, "email": {"1"}}, stranger, "en")
		if rec.Code != http.StatusNotFound {
			t.Errorf("POST %s by another organiser: status %d, want 404", path, rec.Code)
		}
	}
	if n := len(env.blastRows()); n != 1 {
		t.Errorf("%d blasts after another organiser tried, want 1", n)
	}

	// Not confirmed: posted, no email, and why, on the form beforehand too.
	u, unconfirmed := env.organiser("new@example.org", false, false)
	theirs := env.ownedCause(u, "Quiet streets")
	if page := env.get("/campaigns/"+theirs.Slug+"/updates", unconfirmed).Body.String(); !strings.Contains(page, "Emails to supporters need a confirmed address") {
		t.Error("the update form does not tell an unconfirmed organiser that emails need a confirmed address")
	}
	rec = env.postUpdate("/campaigns/"+theirs.Slug+"/updates", url.Values{"title": {"Hello"}, "body": {"News."}, "email": {"1"}}, unconfirmed, "en")
	page := env.follow(rec, unconfirmed)
	if !strings.Contains(page, "no email was prepared: emails to supporters need a confirmed address") || !strings.Contains(page, "Hello") {
		t.Error("an unconfirmed organiser's update is not posted with the reason it got no email")
	}
	if n := len(env.blastRows()); n != 1 {
		t.Errorf("%d blasts, want 1: none for an unconfirmed organiser", n)
	}
	if !strings.Contains(page, "email asked for, not prepared") {
		t.Error("the updates list does not say the email asked for was not prepared")
	}
}
