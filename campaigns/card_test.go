package campaigns

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// decodePNG decodes a response body as a PNG and checks its size.
func decodePNG(t *testing.T, what string, b []byte, w, h int) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", what, err)
	}
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Fatalf("%s is %v, want %dx%d", what, got, w, h)
	}
	return img
}

// The share card is a 1200×630 PNG of the cause, its bar as far along as
// its count; kept until what it shows changes, with an ETag a client can
// revalidate with; named with its size and what it shows on the cause
// page, for the networks that show links.
func TestShareCard(t *testing.T) {
	env := newPagesEnv(t)
	ctx := context.Background()
	cz, err := env.store.CreateCause(ctx, env.org, CauseInput{Title: "Sauvons la forêt de Compiègne", Summary: "s",
		Target: "Le maire", Goal: 100, Lang: "fr"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if cz, err = env.store.SetStatus(ctx, cz.ID, Published); err != nil {
		t.Fatal(err)
	}
	path := "/c/" + cz.Slug + "/card.png"
	setCount := func(n int64) {
		t.Helper()
		if _, err := env.w.Exec(`UPDATE causes SET signature_count = ? WHERE id = ?`, n, cz.ID); err != nil {
			t.Fatal(err)
		}
	}
	get := func(headers ...string) pageResp {
		t.Helper()
		r := env.do(http.MethodGet, path, nil, headers...)
		if r.code != http.StatusOK && r.code != http.StatusNotModified {
			t.Fatalf("GET %s: status %d", path, r.code)
		}
		return r
	}

	setCount(50)
	r := get()
	if ct := r.header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("Content-Type %q", ct)
	}
	img := decodePNG(t, "the card", []byte(r.body), CardWidth, CardHeight)
	if dir := os.Getenv("RALLY_SCREENSHOTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "card.png"), []byte(r.body), 0o644)
	}
	mid := (cardBarTop + cardBarBottom) / 2
	if got := img.At(cardPad+cardInner/4, mid); !sameColour(got, cardAccent) {
		t.Errorf("a quarter along, the bar of a cause at half its goal is %v, want the accent", got)
	}
	if got := img.At(cardPad+cardInner*3/4, mid); !sameColour(got, cardAccentSoft) {
		t.Errorf("three quarters along, the bar of a cause at half its goal is %v, want the unfilled colour", got)
	}
	etag := r.header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	draws := env.h.cards.draws.Load()
	if r := get("If-None-Match", etag); r.code != http.StatusNotModified || r.body != "" {
		t.Errorf("revalidating with the ETag: status %d, %d bytes; want 304 and none", r.code, len(r.body))
	}
	get()
	if n := env.h.cards.draws.Load() - draws; n != 0 {
		t.Errorf("the same card was drawn %d more times", n)
	}

	// One more signature shows; past a thousand, one more does not.
	for _, step := range []struct {
		count  int64
		redraw bool
	}{{51, true}, {12345, true}, {12346, false}, {12399, false}, {12400, true}} {
		setCount(step.count)
		before := env.h.cards.draws.Load()
		r := get("If-None-Match", etag)
		drawn := env.h.cards.draws.Load() > before
		if drawn != step.redraw || (r.code == http.StatusNotModified) == step.redraw {
			t.Errorf("at %d signatures: drawn again %v, status %d; want drawn again %v", step.count, drawn, r.code, step.redraw)
		}
		etag = r.header.Get("ETag")
	}

	page := env.get("/c/" + cz.Slug)
	for _, re := range []string{
		`<meta property="og:image" content="http://rally\.test/c/` + cz.Slug + `/card\.png\?v=[a-z0-9]+">`,
		`<meta property="og:image:width" content="1200">`,
		`<meta property="og:image:height" content="630">`,
		`<meta property="og:image:alt" content="The petition “Sauvons la forêt de Compiègne”: [^"]+">`,
		`<meta name="twitter:card" content="summary_large_image">`,
		`<meta name="twitter:image" content="http://rally\.test/c/` + cz.Slug + `/card\.png\?v=[a-z0-9]+">`,
		`<meta name="twitter:image:alt" content="[^"]+">`,
	} {
		if !regexp.MustCompile(re).MatchString(page) {
			t.Errorf("the cause page lacks %s", re)
		}
	}

	// A draft has no card for the public.
	draft, err := env.store.CreateCause(ctx, env.org, CauseInput{Title: "Draft", Summary: "s", Target: "t", Goal: 100, Lang: "en"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := env.do(http.MethodGet, "/c/"+draft.Slug+"/card.png", nil); r.code != http.StatusNotFound {
		t.Errorf("a draft's card: status %d, want 404", r.code)
	}
}

func sameColour(a, b interface{ RGBA() (r, g, b, a uint32) }) bool {
	ar, ag, ab, _ := a.RGBA()
	br, bg, bb, _ := b.RGBA()
	return ar == br && ag == bg && ab == bb
}

// A title is wrapped on word boundaries into at most three lines, each
// within the card; a longer one ends its last line with an ellipsis, cut
// after a word. French accents and typography stay; what the font cannot
// draw is left out rather than drawn as boxes.
func TestCardTitleWraps(t *testing.T) {
	fonts, err := cardFonts()
	if err != nil {
		t.Fatal(err)
	}
	face, err := opentype.NewFace(fonts[1], &opentype.FaceOptions{Size: cardTitleSize, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		t.Fatal(err)
	}
	long := "Sauvons la forêt de Compiègne\u00a0: non à l’abattage des chênes centenaires près de l’école Émile-Zola, " +
		"au cœur du vieux bourg 🌳 «\u00a0maintenant\u00a0»"
	lines := wrapText(face, long, cardInner, cardTitleMax)
	if len(lines) != cardTitleMax {
		t.Fatalf("%d lines, want %d: %q", len(lines), cardTitleMax, lines)
	}
	for _, l := range lines {
		if w := font.MeasureString(face, l); w > fixed.I(cardInner) {
			t.Errorf("line %q is %d px wide, over %d", l, w.Round(), cardInner)
		}
	}
	last := lines[len(lines)-1]
	if !strings.HasSuffix(last, "…") || strings.HasSuffix(last, " …") {
		t.Errorf("the last line %q does not end cleanly with an ellipsis", last)
	}
	joined := strings.Join(lines, " ")
	for _, w := range []string{"forêt", "Compiègne", "l’abattage", "chênes", "l’école"} {
		if !strings.Contains(joined, w) {
			t.Errorf("%q lost on the way: %q", w, lines)
		}
	}
	if !strings.HasPrefix(long, strings.TrimSuffix(strings.Join(lines, " "), "…")) {
		t.Errorf("the lines do not read as the start of the title: %q", lines)
	}
	if got := wrapText(face, "Clean air 🌳 now", cardInner, cardTitleMax); len(got) != 1 || got[0] != "Clean air now" {
		t.Errorf("a short title: %q", got)
	}
	word := strings.Repeat("Anticonstitutionnellement", 3)
	for _, l := range wrapText(face, word, cardInner, cardTitleMax) {
		if w := font.MeasureString(face, l); w > fixed.I(cardInner) {
			t.Errorf("a word longer than a line: line %q over the card", l)
		}
	}
}

// The card's count: exact under a thousand, then rounded down to three
// figures.
func TestCardCount(t *testing.T) {
	for n, want := range map[int64]int64{0: 0, 999: 999, 1000: 1000, 1234: 1230, 12345: 12300, 1234567: 1230000} {
		if got, over := cardCount(n); got != want || over != (got != n) {
			t.Errorf("cardCount(%d) = %d, %v; want %d", n, got, over, want)
		}
	}
}

// zbarimg returns the path of zbar's command-line reader, which the QR
// tests read codes back with (Debian's zbar-tools, which .ci/run installs).
func zbarimg(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatal("zbarimg is needed to read QR codes back: apt-get install -y zbar-tools")
	}
	return path
}

// The QR code is a PNG that a phone's reader takes back to the cause's
// link, tagged with the QR channel; a draft has none for the public.
func TestQRCodeReadsBackToTheCause(t *testing.T) {
	zbar := zbarimg(t)
	env := newPagesEnv(t)
	c := env.cause(CauseInput{Title: "Forêt de Compiègne", Summary: "s", Target: "Mayor"})
	r := env.do(http.MethodGet, "/c/"+c.Slug+"/qr.png", nil)
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
		t.Fatalf("QR code: status %d, %s", r.code, r.header.Get("Content-Type"))
	}
	decodePNG(t, "the QR code", []byte(r.body), QRSize, QRSize)
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, []byte(r.body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbar, "--raw", "-q", file).Output()
	if err != nil {
		t.Fatalf("zbarimg could not read the code: %v", err)
	}
	if got, want := strings.TrimSpace(string(out)), "http://rally.test/c/"+c.Slug+"?utm_source=qr"; got != want {
		t.Errorf("the QR code reads %q, want %q", got, want)
	}
	if r2 := env.do(http.MethodGet, "/c/"+c.Slug+"/qr.png", nil, "If-None-Match", r.header.Get("ETag")); r2.code != http.StatusNotModified {
		t.Errorf("revalidating the QR code: status %d, want 304", r2.code)
	}

	// The poster shows the cause and its code, and lines to sign on paper.
	poster := env.get("/c/" + c.Slug + "/poster")
	for _, want := range []string{"<h1>Forêt de Compiègne</h1>", `src="/c/` + c.Slug + `/qr.png"`, "http://rally.test/c/" + c.Slug + "<",
		`<td class="n">10</td>`} {
		if !strings.Contains(poster, want) {
			t.Errorf("the poster lacks %s", want)
		}
	}
	draft, err := env.store.CreateCause(context.Background(), env.org, CauseInput{Title: "Draft", Summary: "s", Target: "t", Goal: 100, Lang: "en"}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/qr.png", "/poster"} {
		if r := env.do(http.MethodGet, "/c/"+draft.Slug+p, nil); r.code != http.StatusNotFound {
			t.Errorf("a draft's %s: status %d, want 404", p, r.code)
		}
	}
}
