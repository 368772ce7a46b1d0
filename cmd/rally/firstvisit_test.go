package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// checkbox returns the <input> tag of the checkbox with the given id.
func checkbox(t *testing.T, body, id string) string {
	t.Helper()
	tag := regexp.MustCompile(`<input type="checkbox" id="` + id + `"[^>]*>`).FindString(body)
	if tag == "" {
		t.Fatalf("no checkbox %q on the page", id)
	}
	return tag
}

// Showing one's name on a public page is consent given, not assumed: the
// box starts unticked, for visitors (the cached page) and organisers alike,
// and stays as the signer left it when the form comes back with an error.
func TestShowMyNameStartsUnticked(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Trees on the square")
	for who, c := range map[string]*http.Client{"visitor": ta.client(), "organiser": org} {
		r := ta.do(c, "GET", "/c/"+slug, nil)
		if tag := checkbox(t, r.body, "public"); strings.Contains(tag, "checked") {
			t.Errorf("%s: the show-my-name box starts ticked: %s", who, tag)
		}
	}
	bad := signForm("Ada", "not an address")
	r := ta.do(ta.client(), "POST", "/c/"+slug+"/sign", bad)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad signing: status %d", r.status)
	}
	if tag := checkbox(t, r.body, "public"); !strings.Contains(tag, "checked") {
		t.Errorf("the box the signer ticked came back unticked: %s", tag)
	}
}

// A confirmation link that can confirm nothing more says so when opened,
// rather than showing a button that cannot work, and leads back to its
// cause rather than to the home page.
func TestSpentLinksSaySoAndLeadBack(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Trees on the square")
	visitor := ta.client()
	confirmButton := `action="/confirm/`

	used := ta.signingToken(visitor, slug, "Ada Lovelace", "ada@example.org")
	if r := ta.do(visitor, "POST", "/confirm/"+used, nil); r.status != http.StatusOK {
		t.Fatalf("confirm: status %d", r.status)
	}
	// Signed twice before confirming, and confirmed through the other link.
	first := ta.signingToken(visitor, slug, "Bob", "bob@example.org")
	second := ta.signingToken(visitor, slug, "Bob", "bob@example.org")
	if r := ta.do(visitor, "POST", "/confirm/"+second, nil); r.status != http.StatusOK {
		t.Fatalf("confirm: status %d", r.status)
	}
	for name, tok := range map[string]string{"used link": used, "the other link": first} {
		r := ta.do(visitor, "GET", "/confirm/"+tok, nil)
		if r.status != http.StatusOK || strings.Contains(r.body, confirmButton) || !strings.Contains(r.body, "is counted") ||
			!strings.Contains(r.body, `href="/c/`+slug+`"`) {
			t.Errorf("%s: status %d; want 200 saying the signature is counted, linking to the cause, with no confirm button\n%s", name, r.status, r.body)
		}
	}

	expired := ta.signingToken(visitor, slug, "Lee Late", "lee@example.org")
	if _, err := ta.writer.Exec(`UPDATE signatures SET token_expires_at = ? WHERE email = ?`, time.Now().UTC().Add(-time.Minute), "lee@example.org"); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"GET", "POST"} {
		r := ta.do(visitor, method, "/confirm/"+expired, nil)
		if r.status != http.StatusGone || strings.Contains(r.body, confirmButton) || !strings.Contains(r.body, "expired") ||
			!strings.Contains(r.body, `href="/c/`+slug+`#sign"`) {
			t.Errorf("%s expired link: status %d; want 410 saying it expired and leading to the cause's form\n%s", method, r.status, r.body)
		}
	}
	r := ta.do(visitor, "GET", "/confirm/"+expired+"?lang=fr", nil)
	if !strings.Contains(r.body, "Ce lien a expiré") {
		t.Errorf("expired link in French: %s", r.body)
	}
	// A link still good shows its button, as before.
	open := ta.signingToken(visitor, slug, "Pat", "pat@example.org")
	if r := ta.do(visitor, "GET", "/confirm/"+open, nil); r.status != http.StatusOK || !strings.Contains(r.body, confirmButton+open) {
		t.Errorf("open link: status %d, want its confirm button", r.status)
	}
}

// A cause page says who started it, when, until when, and how many signed
// in the last day; once it ends it says when it closed, and stops telling
// people that every share brings signers.
func TestCausePageSaysWhoWhenAndHowItMoves(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	ends := time.Now().UTC().AddDate(0, 1, 0)
	r := ta.do(org, "POST", "/campaigns/new", url.Values{"title": {"Trees on the square"}, "summary": {"Shade for the market."},
		"target": {"The Mayor"}, "goal": {"100"}, "ends_at": {ends.Format("2006-01-02")}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: status %d", r.status)
	}
	slug := strings.TrimPrefix(r.header.Get("Location"), "/campaigns/")
	ta.publish(org, slug)
	visitor := ta.client()
	today := ta.rdr.Catalogue.Date("en", time.Now().UTC())
	endDay := ta.rdr.Catalogue.Date("en", ends)
	want := func(who *http.Client, path string, with []string, without ...string) {
		t.Helper()
		r := ta.do(who, "GET", path, nil)
		for _, w := range with {
			if !strings.Contains(r.body, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
		for _, w := range without {
			if strings.Contains(r.body, w) {
				t.Errorf("%s says %q", path, w)
			}
		}
	}
	want(visitor, "/c/"+slug, []string{"Started by Olive Organiser on " + today, "Closes on " + endDay, "Every share brings new signers"},
		"in the last 24 hours")

	for _, who := range []string{"ada", "bob"} {
		tok := ta.signingToken(visitor, slug, who, who+"@example.org")
		ta.do(visitor, "POST", "/confirm/"+tok, nil)
	}
	want(visitor, "/c/"+slug, []string{"2 signed in the last 24 hours"})
	if _, err := ta.writer.Exec(`UPDATE signatures SET confirmed_at = ? WHERE email = ?`, time.Now().UTC().Add(-25*time.Hour), "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	want(org, "/c/"+slug, []string{"1 signed in the last 24 hours"})

	if r := ta.do(org, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {"closed"}}); r.status != http.StatusSeeOther {
		t.Fatalf("close: status %d", r.status)
	}
	want(visitor, "/c/"+slug, []string{"Closed on " + today, "the story is still worth telling"},
		"Closes on", "Every share brings new signers", "in the last 24 hours")
	want(org, "/campaigns/"+slug, []string{"Closed on " + today}, "Closes on")
	if r := ta.do(org, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {"victory"}}); r.status != http.StatusSeeOther {
		t.Fatalf("victory: status %d", r.status)
	}
	want(visitor, "/c/"+slug, []string{"Closed on " + today, "It won"}, "Every share brings new signers")
}

// The recipient is typed by the organiser ("La maire et le conseil
// municipal", "Le maire"): in French it cannot follow "à" in a sentence,
// so pages and mails show it as a labelled value.
func TestRecipientIsALabelledValue(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	r := ta.do(org, "POST", "/campaigns/new", url.Values{"title": {"Des arbres sur la place"}, "summary": {"De l’ombre pour le marché."},
		"target": {"Le maire"}, "goal": {"100"}})
	slug := strings.TrimPrefix(r.header.Get("Location"), "/campaigns/")
	ta.publish(org, slug)
	visitor := ta.client()
	if r := ta.do(visitor, "POST", "/c/"+slug+"/sign?lang=fr", signForm("Élodie Martin", "elodie@example.org")); r.status != http.StatusOK {
		t.Fatalf("sign: status %d", r.status)
	}
	mail := ta.lastMailTo("elodie@example.org")
	tok := confirmLink.FindStringSubmatch(mail)[1]
	pages := map[string]string{
		"cause page":   ta.do(visitor, "GET", "/c/"+slug+"?lang=fr", nil).body,
		"confirm page": ta.do(visitor, "GET", "/confirm/"+tok+"?lang=fr", nil).body,
		"mail":         mail,
	}
	for name, body := range pages {
		if strings.Contains(body, "à Le maire") || strings.Contains(body, "adressée à") {
			t.Errorf("%s puts the recipient in a sentence", name)
		}
		if !strings.Contains(body, "Destinataire\u00a0: Le maire") {
			t.Errorf("%s does not show the recipient as “Destinataire\u00a0: Le maire”:\n%s", name, body)
		}
	}
}

// inboxPreview is the start of the text of a mail's HTML part, as an inbox
// shows it next to the subject.
func inboxPreview(t *testing.T, eml string) string {
	t.Helper()
	i := strings.Index(eml, "<body")
	if i < 0 {
		t.Fatalf("no HTML part in the mail:\n%s", eml)
	}
	text := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(eml[i:], " ")
	text = strings.TrimSpace(regexp.MustCompile(`[ \t\r\n]+`).ReplaceAllString(text, " "))
	r := []rune(text)
	return string(r[:min(len(r), 60)])
}

// A signing mail reads well in the inbox: its preview line says what to do
// rather than starting with the brand, a signer who wrote their name
// "Doe, John" is greeted by their first name, and the confirmation link
// carries the language they signed in, so a French signer whose mail opens
// in an English browser confirms on a French page.
func TestSigningMailReadsWellInTheInbox(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Des arbres sur la place")
	visitor := ta.client()
	if r := ta.do(visitor, "POST", "/c/"+slug+"/sign?lang=fr", signForm("Doe, John", "john@example.org")); r.status != http.StatusOK {
		t.Fatalf("sign: status %d", r.status)
	}
	mail := ta.lastMailTo("john@example.org")
	if got, want := inboxPreview(t, mail), "Dernière étape\u00a0: confirmez votre signature"; !strings.HasPrefix(got, want) {
		t.Errorf("the inbox preview reads %q, want it to start %q", got, want)
	}
	if !strings.Contains(mail, "Bonjour John,") || strings.Contains(mail, "Doe,,") || strings.Contains(mail, "Bonjour Doe") {
		t.Errorf("the mail does not greet John by his first name:\n%s", mail)
	}
	link := regexp.MustCompile(`/confirm/[0-9a-f]{16}[A-Za-z0-9_-]{32}\?lang=fr`).FindString(mail)
	if link == "" {
		t.Fatalf("the confirmation link does not carry the signer's language:\n%s", mail)
	}
	r := ta.do(ta.client(), "GET", link, nil, "Accept-Language", "en-GB,en;q=0.9")
	if r.status != http.StatusOK || !strings.Contains(r.body, `<html lang="fr"`) || !strings.Contains(r.body, "Confirmer ma signature") {
		t.Errorf("the link opened in an English browser: status %d, want the French confirm page", r.status)
	}
	// An English signer's mail, for comparison, and the greeting of a
	// name written as usual.
	ta.do(visitor, "POST", "/c/"+slug+"/sign?lang=en", signForm("Ada Lovelace", "ada@example.org"))
	mail = ta.lastMailTo("ada@example.org")
	if !strings.Contains(mail, "Hello Ada,") || !strings.HasPrefix(inboxPreview(t, mail), "One last step: confirm your signature") {
		t.Errorf("the English mail: preview %q", inboxPreview(t, mail))
	}
}

// How to turn donations on (environment variables, the README) is for the
// people who run the site: an organiser's dashboard does not carry it, and
// their donations page says only that donations are off and whom to ask.
func TestDonationsOffSetupIsForAdmins(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	admin, _ := ta.organiser("Ada", "ada@example.org", true)
	slug := ta.publishedCause(org, "Trees on the square")
	for _, path := range []string{"/dashboard", "/campaigns/" + slug + "/donations"} {
		if r := ta.do(org, "GET", path, nil); strings.Contains(r.body, "STRIPE_SECRET_KEY") || strings.Contains(r.body, "README") {
			t.Errorf("%s shows an organiser the server's set-up", path)
		}
		if r := ta.do(admin, "GET", path, nil); !strings.Contains(r.body, "STRIPE_SECRET_KEY") {
			t.Errorf("%s does not tell an admin how to turn donations on", path)
		}
	}
	if r := ta.do(org, "GET", "/campaigns/"+slug+"/donations", nil); !strings.Contains(r.body, "Donations are off") {
		t.Errorf("the donations page does not tell the organiser donations are off")
	}
}

// The privacy page names who is responsible and, from RALLY_CONTACT_EMAIL
// or --contact-email, the address to write to. While it is unset, admins
// see a note to set it; visitors and other organisers do not, and an
// admin's page is never one kept for the public.
func TestPrivacyPageNamesTheController(t *testing.T) {
	cfg, err := parseConfig(newFlagSet(), []string{"--contact-email", "dpo@example.org"}, func(k string) string {
		return map[string]string{"RALLY_CONTACT_EMAIL": "env@example.org"}[k]
	})
	if err != nil || cfg.ContactEmail != "dpo@example.org" {
		t.Errorf("--contact-email: %q, %v; want the flag's address", cfg.ContactEmail, err)
	}
	for _, bad := range []string{"not an address", "Ada <ada@example.org>", "a@b, c@d"} {
		if _, err := parseConfig(newFlagSet(), []string{"--contact-email", bad}, func(string) string { return "" }); err == nil {
			t.Errorf("--contact-email %q accepted", bad)
		}
	}

	ta := newTestApp(t, map[string]string{"RALLY_CONTACT_EMAIL": "privacy@example.org"})
	r := ta.do(ta.client(), "GET", "/privacy", nil)
	for _, want := range []string{`href="mailto:privacy@example.org"`, "responsible", "How long it is kept", "Who sees it"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the privacy page lacks %q", want)
		}
	}

	ta = newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	admin, _ := ta.organiser("Ada", "ada@example.org", true)
	note := "RALLY_CONTACT_EMAIL"
	if r := ta.do(admin, "GET", "/privacy", nil); !strings.Contains(r.body, note) || !strings.Contains(r.header.Get("Cache-Control"), "no-store") {
		t.Errorf("an admin's privacy page: note shown %v, Cache-Control %q; want the note, kept by no cache",
			strings.Contains(r.body, note), r.header.Get("Cache-Control"))
	}
	for who, c := range map[string]*http.Client{"visitor": ta.client(), "organiser": org} {
		if r := ta.do(c, "GET", "/privacy", nil); strings.Contains(r.body, note) || strings.Contains(r.body, "mailto:") {
			t.Errorf("%s: the privacy page shows the admin's note or an address that is not set", who)
		}
	}
}

// notice returns the one-time notice on a page, or "".
func notice(body string) string {
	m := regexp.MustCompile(`<div class="flash" role="status"><p>([^<]*)</p>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// After each action that redirects, the page it leads to says what
// happened, once. The notice rides in a cookie, so it needs no JavaScript
// and no query, and a page showing it is never one kept for others.
func TestNoticeAfterEachRedirect(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	follow := func(r resp, want string) {
		t.Helper()
		if r.status != http.StatusSeeOther {
			t.Fatalf("status %d, want a redirect", r.status)
		}
		var cookie string
		for _, c := range r.header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "flash=") {
				cookie = c
			}
		}
		if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") {
			t.Errorf("the notice's cookie %q is not HttpOnly and SameSite=Lax", cookie)
		}
		page := ta.do(org, "GET", r.header.Get("Location"), nil)
		if got := notice(page.body); got != want {
			t.Errorf("after the redirect to %s the notice reads %q, want %q", r.header.Get("Location"), got, want)
		}
		if again := ta.do(org, "GET", r.header.Get("Location"), nil); notice(again.body) != "" {
			t.Errorf("the notice %q shows a second time", notice(again.body))
		}
	}
	r := ta.do(org, "POST", "/campaigns/new", url.Values{"title": {"Trees on the square"}, "summary": {"Shade."}, "target": {"The Mayor"}, "goal": {"100"}})
	follow(r, "Draft saved. Nobody else sees it until you publish it.")
	slug := strings.TrimPrefix(r.header.Get("Location"), "/campaigns/")
	follow(ta.do(org, "POST", "/campaigns/"+slug+"/edit", url.Values{"title": {"Trees on the square"}, "summary": {"Shade for all."},
		"target": {"The Mayor"}, "goal": {"100"}}), "Changes saved.")
	follow(ta.do(org, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {"published"}}), "Published: the petition takes signatures.")
	follow(ta.do(org, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {"closed"}}), "Closed: the petition no longer takes signatures.")
	follow(ta.do(org, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {"published"}}), "Reopened: the petition takes signatures again.")
	follow(ta.do(org, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {"victory"}}), "Victory declared. Congratulations!")

	// Logging out leads to the home page, which is cached for everyone:
	// the notice is shown to this browser, and kept for nobody else.
	visitor := ta.client()
	ta.do(visitor, "GET", "/", nil)
	ta.do(visitor, "GET", "/c/"+slug, nil)
	out := ta.do(org, "POST", "/logout", url.Values{})
	home := ta.do(org, "GET", out.header.Get("Location"), nil)
	if notice(home.body) != "You are logged out." || !strings.Contains(home.header.Get("Cache-Control"), "no-store") {
		t.Errorf("after logging out: notice %q, Cache-Control %q; want the notice on a page no cache keeps",
			notice(home.body), home.header.Get("Cache-Control"))
	}
	for _, path := range []string{"/", "/c/" + slug} {
		if r := ta.do(visitor, "GET", path, nil); notice(r.body) != "" {
			t.Errorf("another visitor's %s shows %q", path, notice(r.body))
		}
	}
	// A notice that is no message of ours shows nothing.
	forged := ta.client()
	u, _ := url.Parse(ta.srv.URL)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: "flash", Value: "<script>"}})
	if r := ta.do(forged, "GET", "/c/"+slug, nil); r.status != http.StatusOK || notice(r.body) != "" || strings.Contains(r.body, "<script>") {
		t.Errorf("a forged notice: status %d, notice %q", r.status, notice(r.body))
	}
}

// An image kept from a form with errors is its organiser's alone: nobody
// else can see it or put it on their cause.
func TestPendingImageIsTheOrganisersAlone(t *testing.T) {
	ta := newTestApp(t, nil)
	olive, _ := ta.organiser("Olive", "olive@example.org", false)
	otto, _ := ta.organiser("Otto", "otto@example.org", false)
	fields := url.Values{"title": {""}, "summary": {"Shade."}, "target": {"The Mayor"}, "goal": {"100"}}
	r := ta.postMultipart(olive, "/campaigns/new", fields, testPNG(t))
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("a form with errors: status %d", r.status)
	}
	m := regexp.MustCompile(`name="pending_image" value="([^"]+)"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("the form came back without the image kept:\n%s", r.body)
	}
	preview := "/campaigns/new/image/" + m[1]
	if r := ta.do(olive, "GET", preview, nil); r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
		t.Errorf("its organiser's preview: status %d, %s", r.status, r.header.Get("Content-Type"))
	}
	admin, _ := ta.organiser("Ada", "ada@example.org", true)
	for who, c := range map[string]*http.Client{"another organiser": otto, "an admin": admin} {
		if r := ta.do(c, "GET", preview, nil); r.status != http.StatusNotFound {
			t.Errorf("%s's preview: status %d, want 404", who, r.status)
		}
	}
	if r := ta.do(ta.client(), "GET", preview, nil); r.status != http.StatusSeeOther {
		t.Errorf("a visitor's preview: status %d, want the login redirect", r.status)
	}
	fields.Set("title", "Trees")
	fields.Set("pending_image", m[1])
	if r := ta.postMultipart(otto, "/campaigns/new", fields, nil); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "choose it again") {
		t.Errorf("another organiser sending the kept image's name: status %d, want 422 asking for an image", r.status)
	}
	r = ta.postMultipart(olive, "/campaigns/new", fields, nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("sending the form again: status %d\n%s", r.status, r.body)
	}
	cz, err := ta.store.FindCauseBySlug(context.Background(), strings.TrimPrefix(r.header.Get("Location"), "/campaigns/"))
	if err != nil || cz.Image != m[1] {
		t.Errorf("the cause's image is %q (%v), want the kept %q", cz.Image, err, m[1])
	}
	if r := ta.do(olive, "GET", preview, nil); r.status != http.StatusNotFound {
		t.Errorf("the preview of an image now the cause's: status %d, want 404", r.status)
	}
}
