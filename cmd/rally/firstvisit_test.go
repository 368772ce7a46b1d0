package main

import (
	"net/http"
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
