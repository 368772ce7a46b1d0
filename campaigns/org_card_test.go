package campaigns

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
)

// solidPNG is a w×h picture of one colour.
func solidPNG(t *testing.T, w, h int, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), c)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// An organisation's share card is a 1200×630 PNG with its logo, kept
// until what it shows changes, with an ETag a client can revalidate with;
// its page names it, absolute, for the networks that show links; an
// unknown handle has none.
func TestOrganisationShareCard(t *testing.T) {
	env := newSiteEnv(t)
	o, session := env.organiser("owner@example.org", false, true)
	cz := env.ownedCause(o, "Clean air")
	env.ownedCause(o, "Quiet streets")
	blue := color.RGBA{0x10, 0x30, 0xf0, 0xff}
	if rec := env.profileForm(session, map[string]string{"handle": "friends-of-air", "org_name": "Friends of Air"},
		solidPNG(t, 300, 100, blue)); rec.Code != http.StatusSeeOther {
		t.Fatalf("save profile: status %d\n%s", rec.Code, rec.Body)
	}
	get := func(path, etag string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		return env.serve(req, nil)
	}

	rec := get("/org/friends-of-air/card.png", "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/png" {
		t.Fatalf("card: status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	img := decodePNG(t, "the organisation's card", rec.Body.Bytes(), CardWidth, CardHeight)
	mid := orgCardLogoTop + orgCardLogo/2
	if got := img.At(cardPad+orgCardLogo/2, mid); !sameColour(got, blue) {
		t.Errorf("the logo's middle is %v, want the logo's blue", got)
	}
	// A wide logo is fitted whole, not cropped: above and below it, the box.
	if got := img.At(cardPad+orgCardLogo/2, orgCardLogoTop+16); sameColour(got, blue) {
		t.Error("a wide logo fills its square: it was stretched or cropped")
	}
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	draws := env.h.cards.draws.Load()
	if rec := get("/org/friends-of-air/card.png", etag); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("revalidating with the ETag: status %d, %d bytes; want 304 and none", rec.Code, rec.Body.Len())
	}
	get("/org/friends-of-air/card.png", "")
	if n := env.h.cards.draws.Load() - draws; n != 0 {
		t.Errorf("the same card was drawn %d more times", n)
	}

	// A signature changes the figures, so the card.
	env.confirmedSigner(cz, "ada@example.org", "FR", true)
	rec = get("/org/friends-of-air/card.png", etag)
	if rec.Code != http.StatusOK || rec.Header().Get("ETag") == etag {
		t.Errorf("after a signature: status %d, ETag %q; want a new card", rec.Code, rec.Header().Get("ETag"))
	}
	etag = rec.Header().Get("ETag")

	page := env.get("/org/friends-of-air", nil).Body.String()
	v := regexp.QuoteMeta(etag[1 : len(etag)-1])
	for _, re := range []string{
		`<meta property="og:image" content="http://rally\.test/org/friends-of-air/card\.png\?v=` + v + `">`,
		`<meta property="og:image:width" content="1200">`,
		`<meta property="og:image:height" content="630">`,
		`<meta property="og:image:alt" content="Friends of Air on Rally: [^"]+">`,
		`<meta name="twitter:card" content="summary_large_image">`,
		`<meta name="twitter:image" content="http://rally\.test/org/friends-of-air/card\.png\?v=` + v + `">`,
	} {
		if !regexp.MustCompile(re).MatchString(page) {
			t.Errorf("the organisation page lacks %s", re)
		}
	}

	for _, path := range []string{"/org/nobody/card.png", "/org/FRIENDS-OF-AIR/card.png"} {
		if rec := get(path, ""); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, rec.Code)
		}
	}

	// Without a logo, the name takes the line: no logo's blue anywhere.
	if _, err := env.w.Exec(`UPDATE organisers SET org_logo = '' WHERE id = ?`, o.ID); err != nil {
		t.Fatal(err)
	}
	img = decodePNG(t, "the card without a logo", get("/org/friends-of-air/card.png", "").Body.Bytes(), CardWidth, CardHeight)
	if got := img.At(cardPad+orgCardLogo/2, mid); sameColour(got, blue) {
		t.Error("the card of an organisation without a logo still shows it")
	}
}
