package templates

import (
	"testing"
)

// Each page is parsed with the partials it calls, through one another
// too, and no other: every partial parsed into every page would be kept,
// escaped, once a page.
func TestPagesHoldOnlyThePartialsTheyCall(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	cause, ok := r.pages["campaigns/cause.html"]
	if !ok {
		t.Fatal("no cause page")
	}
	// The cause page calls the donate form (partials/) and the share
	// links (campaigns/_parts.html).
	for _, name := range []string{"donate-form", "cz-share"} {
		if cause.Lookup(name) == nil {
			t.Errorf("the cause page lacks %q, which it calls", name)
		}
	}
	signed, ok := r.pages["campaigns/signed.html"]
	if !ok {
		t.Fatal("no signed page")
	}
	if signed.Lookup("donate-form") != nil {
		t.Error(`the "check your email" page holds the donate form, which it never calls`)
	}
	if len(signed.Templates()) >= len(cause.Templates()) {
		t.Errorf("the signed page holds %d templates, the cause page %d: the small page should hold fewer",
			len(signed.Templates()), len(cause.Templates()))
	}
}
