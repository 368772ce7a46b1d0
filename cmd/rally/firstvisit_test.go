package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
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
