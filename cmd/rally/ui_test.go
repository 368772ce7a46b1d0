package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// uiSite is a Rally holding a little of everything a first-time visitor
// and a new organiser meet: causes open, closed, won and in draft, with and
// without an image, signers, and confirmation links unused, used and
// expired. The browser tests of the pages' look walk it.
type uiSite struct {
	ta  *testApp
	org *http.Client
	// Slugs.
	open, plain, closed, victory, draft string
	// Confirmation link tokens.
	pending, used, expired string
	// update is the path of an update's edit page.
	update string
	// Blasts of the open cause: a draft and one sent; an unsubscribe link.
	blastDraft, blastSent, unsubscribe string
	// signed counts the signings made while walking the pages.
	signed int
	// recruits is the path of a signer's private recruits page.
	recruits string
	// mod is what the pages of moderation and people's rights need.
	mod moderationSite
}

const uiPassword = "a long enough password"

func newUISite(t *testing.T) *uiSite {
	t.Helper()
	// Limits off: each test walks the pages, forms sent included, several times.
	ta := newTestApp(t, map[string]string{"RALLY_RATE_LIMITS": "off"})
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	s := &uiSite{ta: ta, org: org}
	ends := time.Now().UTC().AddDate(0, 2, 0).Format("2006-01-02")
	s.open = ta.causeWithImage(org, url.Values{"title": {"Clean air for Rue des Tilleuls"},
		"summary": {"Close the street to cars at school times, so that the two thousand children who walk here every morning breathe clean air."},
		"target":  {"La maire et le conseil municipal"}, "goal": {"2500"}, "ends_at": {ends},
		"body":      {"## Why\n\nTwo thousand children walk here every morning, between cars that idle at the lights.\n\n## What we ask\n\n- close the street from 8:00 to 8:45\n- plant trees"},
		"image_alt": {"Children crossing a street lined with lime trees"}})
	ta.publish(org, s.open)
	s.plain = ta.publishedCause(org, "A bench in the park for everyone who needs a rest")
	s.closed = ta.publishedCause(org, "Keep the library open on Sundays")
	s.victory = ta.publishedCause(org, "A crossing guard at the school gate")
	r := ta.do(org, "POST", "/campaigns/new", url.Values{"title": {"More bins on the beach"}, "summary": {"Litter blows into the sea."},
		"target": {"The council"}, "goal": {"100"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("create the draft: status %d", r.status)
	}
	s.draft = strings.TrimPrefix(r.header.Get("Location"), "/campaigns/")

	visitor := ta.client()
	signers := []struct{ name, email, comment string }{
		{"Élodie Martin", "elodie@example.org", "My daughter walks this street every day."},
		{"Doe, John", "john@example.org", ""},
		{"Ada Lovelace", "ada@example.org", "Clean air is not a luxury."},
	}
	for _, sg := range signers {
		f := signForm(sg.name, sg.email)
		f.Set("comment", sg.comment)
		for _, slug := range []string{s.open, s.victory} {
			if r := ta.do(visitor, "POST", "/c/"+slug+"/sign", f); r.status != http.StatusOK {
				t.Fatalf("sign %s: status %d", slug, r.status)
			}
			m := confirmLink.FindStringSubmatch(ta.lastMailTo(sg.email))
			if m == nil {
				t.Fatalf("no confirmation link mailed to %s", sg.email)
			}
			if r := ta.do(visitor, "POST", "/confirm/"+m[1], nil); r.status != http.StatusOK {
				t.Fatalf("confirm: status %d", r.status)
			}
			s.used = m[1]
		}
	}
	// A heart for a reason, so the cause page shows the most liked.
	var reason int64
	if err := ta.writer.QueryRow(`SELECT s.id FROM signatures s JOIN causes c ON c.id = s.cause_id
		WHERE c.slug = ? AND s.comment <> '' ORDER BY s.id LIMIT 1`, s.open).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	if r := ta.do(visitor, "POST", fmt.Sprintf("/c/%s/comments/%d/heart", s.open, reason), nil); r.status != http.StatusSeeOther {
		t.Fatalf("heart: status %d", r.status)
	}
	s.recruits = recruitsLink.FindString(ta.lastMailTo("ada@example.org"))
	if s.recruits == "" {
		t.Fatal("no recruits link mailed to a counted signer")
	}
	s.pending = ta.signingToken(visitor, s.open, "Pat Pending", "pat@example.org")
	s.expired = ta.signingToken(visitor, s.open, "Lee Late", "lee@example.org")
	if _, err := ta.writer.Exec(`UPDATE signatures SET token_expires_at = ? WHERE email = ?`, time.Now().UTC().Add(-time.Hour), "lee@example.org"); err != nil {
		t.Fatal(err)
	}
	s.mod = setUpModeration(t, ta, org, s.open)
	s.blastSent = s.blast(t, true)
	s.blastDraft = s.blast(t, false)
	if s.unsubscribe = regexp.MustCompile(`/u/[A-Za-z0-9_-]+`).FindString(ta.lastMailTo("ada@example.org")); s.unsubscribe == "" {
		t.Fatal("no unsubscribe link in the blast")
	}
	for slug, status := range map[string]string{s.closed: "closed", s.victory: "victory"} {
		if r := ta.do(org, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {status}}); r.status != http.StatusSeeOther {
			t.Fatalf("%s %s: status %d", status, slug, r.status)
		}
	}
	r = ta.do(org, "POST", "/campaigns/"+s.open+"/updates", url.Values{"title": {"We met the mayor’s office on Tuesday"},
		"body": {"They listened. **Next step**: a vote at the council in March.\n\n- bring a friend\n- [read the minutes](https://example.org/minutes)"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("post an update: status %d", r.status)
	}
	loc := r.header.Get("Location")
	s.update = "/campaigns/" + s.open + "/updates/" + loc[strings.LastIndex(loc, "-")+1:] + "/edit"
	// One mailed too: the updates page shows its email's status and link.
	if r := ta.do(org, "POST", "/campaigns/"+s.open+"/updates", url.Values{"title": {"The vote is on 12 March"},
		"body": {"Come to the town hall at 7 pm."}, "email": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("post an update to mail: status %d", r.status)
	}
	if r := ta.do(org, "POST", "/campaigns/"+s.victory+"/victory", url.Values{"victory_message": {"The council voted the street closed at school times. Thank you, all of you!"}}); r.status != http.StatusSeeOther {
		t.Fatalf("victory words: status %d", r.status)
	}
	if r := ta.do(org, "POST", "/account/organisation", url.Values{"handle": {"tilleuls"}, "org_name": {"Parents of Rue des Tilleuls"},
		"about": {"Parents and neighbours who want children to walk to school in clean air."}, "website": {"https://tilleuls.example.org"}}); r.status != http.StatusSeeOther {
		t.Fatalf("organisation profile: status %d", r.status)
	}
	return s
}

// blast writes a blast to the open cause's signers, in English and
// French, sends it if send says so, and returns its page.
func (s *uiSite) blast(t *testing.T, send bool) string {
	t.Helper()
	r := s.ta.do(s.org, "POST", "/campaigns/"+s.open+"/blasts", url.Values{"subject": {"{first_name|Friend}, the council votes on Monday"},
		"body":      {"The council votes on the school streets on **Monday at 18:00**.\n\n- [Read the plan](https://example.org/plan)"},
		"cta_label": {"Write to my councillor"}, "cta_url": {"https://example.org/write-to-your-councillor-before-the-vote"},
		"subject_fr": {"{first_name|Bonjour}, le conseil vote lundi"}, "body_fr": {"Le conseil vote lundi à 18 h."},
		"cta_label_fr": {"Écrire à mon conseiller"}})
	path := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !blastPathRE.MatchString(path) {
		t.Fatalf("save a blast: status %d", r.status)
	}
	if send {
		if r := s.ta.do(s.org, "POST", path+"/send", url.Values{}); r.status != http.StatusSeeOther {
			t.Fatalf("send the blast: status %d", r.status)
		}
		s.ta.runBlasts()
	}
	return path
}

// signingToken signs the cause and returns the token of the link mailed.
func (ta *testApp) signingToken(c *http.Client, slug, name, email string) string {
	ta.t.Helper()
	if r := ta.do(c, "POST", "/c/"+slug+"/sign", signForm(name, email)); r.status != http.StatusOK {
		ta.t.Fatalf("sign %s: status %d", slug, r.status)
	}
	m := confirmLink.FindStringSubmatch(ta.lastMailTo(email))
	if m == nil {
		ta.t.Fatalf("no confirmation link mailed to %s", email)
	}
	return m[1]
}

// publish publishes the organiser's cause.
func (ta *testApp) publish(c *http.Client, slug string) {
	ta.t.Helper()
	if r := ta.do(c, "POST", "/campaigns/"+slug+"/status", url.Values{"status": {"published"}}); r.status != http.StatusSeeOther {
		ta.t.Fatalf("publish %s: status %d\n%s", slug, r.status, r.body)
	}
}

// testPNG is a small picture in PNG: a sky over a green street.
func testPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 320, 180))
	for y := range 180 {
		for x := range 320 {
			c := color.RGBA{0x8e, 0xc5, 0xe8, 0xff}
			if y > 110 {
				c = color.RGBA{0x3f, 0x7d, 0x4a, 0xff}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// postMultipart posts fields and, if data is not nil, a file under
// "image", as a browser sends the cause form.
func (ta *testApp) postMultipart(c *http.Client, path string, fields url.Values, data []byte) resp {
	ta.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			_ = w.WriteField(k, v)
		}
	}
	if data != nil {
		fw, err := w.CreateFormFile("image", "street.png")
		if err != nil {
			ta.t.Fatal(err)
		}
		_, _ = fw.Write(data)
	}
	if err := w.Close(); err != nil {
		ta.t.Fatal(err)
	}
	req, err := http.NewRequest("POST", ta.srv.URL+path, &body)
	if err != nil {
		ta.t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	res, err := c.Do(req)
	if err != nil {
		ta.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: string(b), header: res.Header}
}

// causeWithImage creates a draft with a cover image and returns its slug.
func (ta *testApp) causeWithImage(c *http.Client, fields url.Values) string {
	ta.t.Helper()
	r := ta.postMultipart(c, "/campaigns/new", fields, testPNG(ta.t))
	if r.status != http.StatusSeeOther {
		ta.t.Fatalf("create a cause with an image: status %d\n%s", r.status, r.body)
	}
	return strings.TrimPrefix(r.header.Get("Location"), "/campaigns/")
}

// recruitsLink finds the private link to a signer's recruits page in a mail.
var recruitsLink = regexp.MustCompile(`/c/[a-z0-9-]+/recruits/[0-9a-f]{16}[A-Za-z0-9_-]{32}`)

// uiPage is a page the look tests visit, and how to get there.
type uiPage struct {
	name string
	open chromedp.Action[chromedp.Void]
}

// visitorPages are the public pages as someone not signed in meets them.
func (s *uiSite) visitorPages() []uiPage {
	base := s.ta.srv.URL
	signWith := func(name, email string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(base+"/c/"+s.open),
			chromedp.SendKeys(chromedp.ID("name"), name),
			chromedp.SendKeys(chromedp.ID("email"), email),
			chromedp.SetAttributeValue(chromedp.CSS(`form[action$="/sign"]`), "novalidate", ""),
			submit(`form[action$="/sign"] button[type=submit]`),
		)
	}
	return append([]uiPage{
		{"home", chromedp.Navigate(base + "/")},
		{"search", chromedp.Navigate(base + "/?q=clean+air")},
		{"search, nothing found", chromedp.Navigate(base + "/?q=zeppelin")},
		{"cause", chromedp.Navigate(base + "/c/" + s.open)},
		{"cause without image", chromedp.Navigate(base + "/c/" + s.plain)},
		{"closed cause", chromedp.Navigate(base + "/c/" + s.closed)},
		{"victorious cause", chromedp.Navigate(base + "/c/" + s.victory)},
		{"cause with errors", signWith("Ada", "ada@")},
		{"check your email", signWith("Grace Hopper", "grace@example.org")},
		{"confirm", chromedp.Navigate(base + "/confirm/" + s.pending)},
		{"confirm, used link", chromedp.Navigate(base + "/confirm/" + s.used)},
		{"confirm, expired link", chromedp.Navigate(base + "/confirm/" + s.expired)},
		{"confirm, bad link", chromedp.Navigate(base + "/confirm/" + s.pending[:40])},
		{"thank you", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			s.signed++
			tok := s.ta.signingToken(s.ta.client(), s.open, "Grace Hopper", fmt.Sprintf("grace%d@example.org", s.signed))
			_, err := chromedp.Steps(chromedp.Navigate(base+"/confirm/"+tok), submit(`main form button[type=submit]`))(ctx, t)
			return err
		})},
		{"recruits", chromedp.Navigate(base + s.recruits)},
		{"poster", chromedp.Navigate(base + "/c/" + s.open + "/poster")},
		{"embed", chromedp.Navigate(base + "/c/" + s.open + "/embed")},
		{"embed with errors", chromedp.Steps(
			chromedp.Navigate(base+"/c/"+s.open+"/embed"),
			chromedp.SendKeys(chromedp.ID("email"), "ada@"),
			chromedp.SetAttributeValue(chromedp.CSS(`main form`), "novalidate", ""),
			submit(`main form button[type=submit]`),
		)},
		{"embed, check your email", chromedp.Steps(
			chromedp.Navigate(base+"/c/"+s.open+"/embed"),
			chromedp.SendKeys(chromedp.ID("name"), "Grace Hopper"),
			chromedp.SendKeys(chromedp.ID("email"), "grace.embed@example.org"),
			submit(`main form button[type=submit]`),
		)},
		{"embed, closed cause", chromedp.Navigate(base + "/c/" + s.closed + "/embed")},
		{"privacy", chromedp.Navigate(base + "/privacy")},
		{"organisation page", chromedp.Navigate(base + "/org/tilleuls")},
		{"reasons for signing", chromedp.Navigate(base + "/c/" + s.open + "/comments")},
		{"reasons for signing, most liked", chromedp.Navigate(base + "/c/" + s.open + "/comments?sort=top")},
		{"log in", chromedp.Navigate(base + "/login")},
		{"sign up", chromedp.Navigate(base + "/signup")},
		{"not found", chromedp.Navigate(base + "/c/no-such-cause")},
		{"unsubscribe", chromedp.Navigate(base + s.unsubscribe)},
	}, s.moderationVisitorPages()...)
}

// organiserPages are the organiser's pages; the browser must be logged in.
func (s *uiSite) organiserPages() []uiPage {
	base := s.ta.srv.URL
	return []uiPage{
		{"dashboard", chromedp.Navigate(base + "/dashboard")},
		{"new cause", chromedp.Navigate(base + "/campaigns/new")},
		{"new cause with errors", chromedp.Steps(
			chromedp.Navigate(base+"/campaigns/new"),
			chromedp.SetAttributeValue(chromedp.CSS(`main form`), "novalidate", ""),
			chromedp.SetValue(chromedp.ID("goal"), "lots"),
			submit(`main form button[type=submit]`),
		)},
		{"cause overview", chromedp.Navigate(base + "/campaigns/" + s.open)},
		{"draft overview", chromedp.Navigate(base + "/campaigns/" + s.draft)},
		{"closed overview", chromedp.Navigate(base + "/campaigns/" + s.closed)},
		{"edit cause", chromedp.Navigate(base + "/campaigns/" + s.open + "/edit")},
		{"draft preview", chromedp.Navigate(base + "/c/" + s.draft)},
		{"donations", chromedp.Navigate(base + "/campaigns/" + s.open + "/donations")},
		{"account", chromedp.Navigate(base + "/account")},
		{"updates", chromedp.Navigate(base + "/campaigns/" + s.open + "/updates")},
		{"signers' comments", chromedp.Navigate(base + "/campaigns/" + s.open + "/comments")},
		{"edit update", chromedp.Navigate(base + s.update)},
		{"organisation profile", chromedp.Navigate(base + "/account/organisation")},
		{"organisation profile with errors", chromedp.Steps(
			chromedp.Navigate(base+"/account/organisation"),
			chromedp.SetAttributeValue(chromedp.CSS(`main form`), "novalidate", ""),
			chromedp.SetValue(chromedp.ID("handle"), "-bad handle-"),
			submit(`main form button[type=submit]`),
		)},
		{"blasts", chromedp.Navigate(base + "/campaigns/" + s.open + "/blasts")},
		{"new blast", chromedp.Navigate(base + "/campaigns/" + s.open + "/blasts/new")},
		{"draft blast", chromedp.Navigate(base + s.blastDraft)},
		{"sent blast", chromedp.Navigate(base + s.blastSent)},
	}
}

// logIn logs the browser in as the site's organiser.
func (s *uiSite) logIn() chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(s.ta.srv.URL+"/login"),
		chromedp.SendKeys(chromedp.ID("email"), "olive@example.org"),
		chromedp.SendKeys(chromedp.ID("password"), uiPassword),
		submit(`form[action^="/login"] button[type=submit]`),
	)
}

func (s *uiSite) logOut() chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Navigate(s.ta.srv.URL+"/dashboard"), submit(`form[action="/logout"] button`))
}

// eachPage opens every page, the visitor's then the organiser's, and calls
// check on each.
func (s *uiSite) eachPage(t *testing.T, ctx context.Context, check func(name string)) {
	t.Helper()
	for _, p := range s.visitorPages() {
		if err := chromedp.Do(ctx, p.open); err != nil {
			t.Fatalf("open %s: %v", p.name, err)
		}
		check(p.name)
	}
	if err := chromedp.Do(ctx, s.logIn()); err != nil {
		t.Fatalf("log in: %v", err)
	}
	for _, p := range s.organiserPages() {
		if err := chromedp.Do(ctx, p.open); err != nil {
			t.Fatalf("open %s: %v", p.name, err)
		}
		check(p.name)
	}
	if err := chromedp.Do(ctx, s.logOut()); err != nil {
		t.Fatalf("log out: %v", err)
	}
	s.eachAdminPage(t, ctx, check)
}

// colorScheme makes the tab prefer a light or dark colour scheme.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

// viewport sizes the tab like a phone (390), a small phone (320) or a
// laptop (1280).
func viewport(width int64) chromedp.Action[chromedp.Void] {
	h := int64(844)
	if width > 1000 {
		h = 900
	}
	return chromedp.EmulateViewport(width, h)
}

// contrastJS lists the text of every visible link and button whose
// contrast with the background it is drawn on is under 4.5:1, as WCAG AA
// asks of text. The background is found by blending the backgrounds of the
// element and its ancestors; disabled controls are exempt.
const contrastJS = `(() => {
  const parse = c => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1});
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = matchMedia("(prefers-color-scheme: dark)").matches ? {r: 18, g: 18, b: 18, a: 1} : {r: 255, g: 255, b: 255, a: 1};
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const lum = c => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const shown = el => {
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1 || r.right <= 0 || r.bottom + scrollY <= 0) return false;
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.display === "none" || cs.visibility === "hidden" || e.getAttribute("aria-hidden") === "true") return false;
    }
    return true;
  };
  const bad = [];
  document.querySelectorAll("a, button, .button, summary").forEach(el => {
    if (!shown(el) || el.matches(":disabled") || el.closest("fieldset[disabled]")) return;
    const parts = [el, ...el.querySelectorAll("*")].filter(e =>
      [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim() !== "") && shown(e));
    for (const e of parts) {
      const cs = getComputedStyle(e);
      const fg = parse(cs.color);
      const bg = background(e);
      const r = ratio(fg.a < 1 ? over(fg, bg) : fg, bg);
      if (r < 4.5) bad.push(JSON.stringify(e.textContent.trim().slice(0, 40)) + " " + cs.color + " on rgb(" +
        [bg.r, bg.g, bg.b].map(Math.round).join(", ") + "): " + r.toFixed(2) + ":1");
    }
  });
  return JSON.stringify(bad);
})()`

// checkContrast fails on every link or button whose text is under 4.5:1.
func checkContrast(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](contrastJS))
	if err != nil {
		t.Fatalf("%s: contrast: %v", page, err)
	}
	var bad []string
	if err := json.Unmarshal([]byte(out), &bad); err != nil {
		t.Fatalf("%s: contrast: %v", page, err)
	}
	for _, b := range bad {
		t.Errorf("%s: low contrast: %s", page, b)
	}
}

// TestBrowserContrastBothSchemes computes, on every main page, the contrast
// of each link's and button's text with what it is drawn on, in the light
// and the dark colour scheme. axe leaves text it cannot place on a
// background for a person to review, so an outlined button with dark text
// on the dark theme's background passed it unseen.
// axe-core checks the same pages, in a light and a dark pass.
func TestBrowserContrastBothSchemes(t *testing.T) {
	s := newUISite(t)
	axe := axeSource(t)
	ctx := browserWithin(t, 5*time.Minute)
	// Each page is opened once a width and checked in both schemes: the
	// scheme switches without a reload.
	for _, width := range []int64{390, 1280} {
		if err := chromedp.Do(ctx, viewport(width)); err != nil {
			t.Fatal(err)
		}
		s.eachPage(t, ctx, func(name string) {
			for _, scheme := range []string{"light", "dark"} {
				if err := chromedp.Do(ctx, colorScheme(scheme)); err != nil {
					t.Fatal(err)
				}
				page := fmt.Sprintf("%s (%s, %d px)", name, scheme, width)
				checkContrast(t, ctx, page)
				if scheme == "light" && width == 390 || scheme == "dark" && width == 1280 {
					checkA11y(t, ctx, axe, page)
				}
			}
		})
	}
	if err := chromedp.Do(ctx, colorScheme("light")); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserNoSidewaysScroll opens every main page on a 320 px and a
// 390 px screen: none may be wider than the screen, or the reader has to
// scroll sideways to read it.
func TestBrowserNoSidewaysScroll(t *testing.T) {
	s := newUISite(t)
	ctx := browserWithin(t, 5*time.Minute)
	for _, c := range []struct {
		lang  string
		width int64
	}{{"en", 320}, {"en", 390}, {"fr", 320}, {"fr", 390}} {
		// ?lang= leaves a cookie: the pages that follow are in that language.
		if err := chromedp.Do(ctx, viewport(c.width), chromedp.Navigate(s.ta.srv.URL+"/?lang="+c.lang)); err != nil {
			t.Fatal(err)
		}
		width := c.width
		s.eachPage(t, ctx, func(name string) {
			name += " (" + c.lang + ")"
			if lang := eval[string](t, ctx, `document.documentElement.lang`); lang != c.lang {
				t.Errorf("%s: the page is in %q", name, lang)
			}
			out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
				const w = document.documentElement.scrollWidth, v = innerWidth;
				if (w <= v) return "";
				const wide = [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > v + 0.5)
					.map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : ""));
				return w + " px wide on a " + v + " px screen; past its edge: " + wide.slice(0, 6).join(", ");
			})()`))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if out != "" {
				t.Errorf("%s at %d px: %s", name, width, out)
			}
		})
	}
}

// tapTargetsJS lists the links, buttons and fields a thumb must hit that
// are under 44×44 px. A link inside a sentence is exempt (WCAG 2.5.8: its
// size is the text's); a checkbox or radio button counts with its label,
// which toggles it too.
const tapTargetsJS = `(() => {
  const shown = el => {
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1 || r.right <= 0) return false;
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.display === "none" || cs.visibility === "hidden" || e.getAttribute("aria-hidden") === "true") return false;
    }
    return !el.closest(".visually-hidden, .hp, .skip");
  };
  const block = el => { let e = el.parentElement; while (e && getComputedStyle(e).display.startsWith("inline")) e = e.parentElement; return e; };
  const inSentence = el => { const b = block(el); return getComputedStyle(el).display === "inline" && b && b.textContent.replace(/\s+/g, " ").trim().length > el.textContent.replace(/\s+/g, " ").trim().length + 2; };
  // A link stretched over its card by an ::after covering it is as big as the card.
  const stretched = el => { const a = getComputedStyle(el, "::after"); return a.content !== "none" && a.position === "absolute" && el.offsetParent; };
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " " + JSON.stringify((el.textContent || el.value || "").trim().slice(0, 30));
  const bad = [];
  document.querySelectorAll("a, button, summary, select, input, textarea").forEach(el => {
    if (el.type === "hidden" || !shown(el) || el.closest("fieldset[disabled]")) return;
    let r = el.getBoundingClientRect();
    if (el.type === "checkbox" || el.type === "radio") {
      const l = el.id && document.querySelector('label[for="' + el.id + '"]');
      if (!l) { bad.push(name(el) + " has no label to tap"); return; }
      const lr = l.getBoundingClientRect();
      r = {width: Math.max(r.right, lr.right) - Math.min(r.left, lr.left), height: Math.max(r.bottom, lr.bottom) - Math.min(r.top, lr.top)};
    } else if (el.tagName === "A" && stretched(el)) {
      r = stretched(el).getBoundingClientRect();
    } else if (el.tagName === "A" && inSentence(el)) {
      return;
    }
    if (r.width < 44 - 0.5 || r.height < 44 - 0.5) bad.push(name(el) + " is " + Math.round(r.width) + "×" + Math.round(r.height));
  });
  return JSON.stringify(bad);
})()`

// TestBrowserTapTargets checks, on every main page on a phone, that each
// link, button and field a thumb must hit is at least 44×44 px.
func TestBrowserTapTargets(t *testing.T) {
	s := newUISite(t)
	ctx := browserWithin(t, 3*time.Minute)
	if err := chromedp.Do(ctx, viewport(390)); err != nil {
		t.Fatal(err)
	}
	s.eachPage(t, ctx, func(name string) {
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](tapTargetsJS))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var bad []string
		if err := json.Unmarshal([]byte(out), &bad); err != nil {
			t.Fatal(err)
		}
		for _, b := range bad {
			t.Errorf("%s: %s", name, b)
		}
	})
}

// waitFor polls a JavaScript condition until it holds, or fails.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	for range 50 {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		time.Sleep(40 * time.Millisecond)
	}
	t.Errorf("%s: still not so after 2 s", what)
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// accentPixels counts the pixels of a PNG close to the accent colour.
func accentPixels(t *testing.T, shot []byte) int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if d := absDiff(r>>8, 0xc2) + absDiff(g>>8, 0x36) + absDiff(bl>>8, 0x2b); d < 60 {
				n++
			}
		}
	}
	return n
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// What a first-time visitor meets on a phone, and a new organiser.
func TestBrowserFirstVisit(t *testing.T) {
	s := newUISite(t)
	ctx := browserWithin(t, 3*time.Minute)
	base := s.ta.srv.URL
	do(t, ctx, "phone", viewport(390), colorScheme("light"))

	t.Run("sign now stays in reach until the form is in view", func(t *testing.T) {
		do(t, ctx, "open the cause", chromedp.Navigate(base+"/c/"+s.open))
		jump := `document.querySelector("[data-sign-jump]")`
		waitFor(t, ctx, "the Sign now bar shows at the bottom of the first screen",
			`(j => !j.hidden && getComputedStyle(j).position === "fixed" && Math.abs(j.getBoundingClientRect().bottom - innerHeight) < 2)(`+jump+`)`)
		if top := eval[float64](t, ctx, `document.querySelector("form.signform").getBoundingClientRect().top`); top < 844*0.75 {
			t.Fatalf("the form starts %v px down the first screen: the test needs it out of view", top)
		}
		// The header's "Start a cause" is quiet, so this is the one that leads.
		if bg := eval[string](t, ctx, `getComputedStyle(document.querySelector(".nav-cta")).backgroundColor`); bg != "rgba(0, 0, 0, 0)" {
			t.Errorf("the header's Start a cause is filled (%s): it competes with the cause's own button", bg)
		}
		do(t, ctx, "scroll to the form", chromedp.Evaluate[chromedp.Void](`document.querySelector("form.signform").scrollIntoView()`))
		waitFor(t, ctx, "the bar goes once the form is in view", jump+`.hidden`)
		do(t, ctx, "scroll back up", chromedp.Evaluate[chromedp.Void](`scrollTo(0, 0)`))
		waitFor(t, ctx, "the bar comes back when the form is out of view", `!`+jump+`.hidden`)
		do(t, ctx, "tap Sign now", chromedp.Click(chromedp.CSS("[data-sign-jump] a")))
		waitFor(t, ctx, "tapping it leads to the form, ready to type a name", `location.hash === "#sign" && document.activeElement.id === "name"`)

		do(t, ctx, "wide screen", viewport(1280), chromedp.Navigate(base+"/c/"+s.open))
		if shown := eval[bool](t, ctx, jump+`.getBoundingClientRect().height > 0`); shown {
			t.Errorf("the Sign now bar shows on a wide screen, where the sign box is beside the text")
		}
		do(t, ctx, "phone", viewport(390))

		// Without JavaScript it is a plain link to the form under the summary.
		do(t, ctx, "JavaScript off", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}), chromedp.Navigate(base+"/c/"+s.open))
		got, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("[data-sign-jump] a"), "href"))
		if err != nil || got.Value != "#sign" {
			t.Errorf("without JavaScript the Sign now link goes to %q (%v), want #sign", got.Value, err)
		}
		do(t, ctx, "JavaScript on", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false})
			return err
		}))
	})

	t.Run("errors take the focus, pages after signing have their own titles", func(t *testing.T) {
		do(t, ctx, "sign with a bad address", chromedp.Navigate(base+"/c/"+s.open),
			chromedp.SendKeys(chromedp.ID("name"), "Ada"),
			chromedp.SendKeys(chromedp.ID("email"), "ada@"),
			chromedp.SetAttributeValue(chromedp.CSS(`form[action$="/sign"]`), "novalidate", ""),
			submit(`form[action$="/sign"] button[type=submit]`))
		waitFor(t, ctx, "the error summary has the focus", `document.activeElement.id === "sign-errors"`)
		causeTitle := eval[string](t, ctx, `document.title`)
		do(t, ctx, "sign", chromedp.Navigate(base+"/c/"+s.open),
			chromedp.SendKeys(chromedp.ID("name"), "Katherine Johnson"),
			chromedp.SendKeys(chromedp.ID("email"), "katherine@example.org"),
			submit(`form[action$="/sign"] button[type=submit]`))
		if got := eval[string](t, ctx, `document.title`); got == causeTitle || !strings.HasPrefix(got, "Check your email") {
			t.Errorf("the check-your-email page is titled %q, like the cause page (%q)", got, causeTitle)
		}
		tok := confirmLink.FindStringSubmatch(s.ta.lastMailTo("katherine@example.org"))[1]
		do(t, ctx, "confirm", chromedp.Navigate(base+"/confirm/"+tok), submit(`main form button[type=submit]`))
		if got := eval[string](t, ctx, `document.title`); !strings.HasPrefix(got, "Signature confirmed") {
			t.Errorf("the thank-you page is titled %q", got)
		}
	})

	t.Run("the first signatures show on the bar", func(t *testing.T) {
		for _, c := range []struct {
			slug   string
			sliver bool
		}{{s.open, true}, {s.plain, false}} {
			do(t, ctx, "open the cause", chromedp.Navigate(base+"/c/"+c.slug))
			shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(".signbox progress")))
			if err != nil {
				t.Fatal(err)
			}
			value := eval[string](t, ctx, `(p => p.value + " of " + p.max)(document.querySelector(".signbox progress"))`)
			if n := accentPixels(t, shot); c.sliver && n < 40 {
				t.Errorf("%s signatures: the bar shows %d pixels of colour, not a sliver you can see", value, n)
			} else if !c.sliver && n > 0 {
				t.Errorf("%s signatures: the bar shows %d pixels of colour", value, n)
			}
		}
		do(t, ctx, "in French", chromedp.Navigate(base+"/c/"+s.open+"?lang=fr"))
		if got := eval[string](t, ctx, `document.querySelector(".signbox .next").textContent`); got != "Objectif\u00a0: 2\u00a0500\u00a0signatures" {
			t.Errorf("the next goal reads %q, want “Objectif : 2 500 signatures”", got)
		}
		do(t, ctx, "back to English", chromedp.Navigate(base+"/c/"+s.open+"?lang=en"))
	})

	t.Run("a cause without image has its title on our colour, and the whole card is the link", func(t *testing.T) {
		do(t, ctx, "home", chromedp.Navigate(base+"/"))
		card := `[...document.querySelectorAll(".card")].find(c => c.querySelector("a").getAttribute("href") === "/c/` + s.plain + `")`
		if got := eval[string](t, ctx, card+`.querySelector(".noimg").textContent.trim()`); got != "A bench in the park for everyone who needs a rest" {
			t.Errorf("the placeholder reads %q, want the cause's title", got)
		}
		if bg := eval[string](t, ctx, `getComputedStyle(`+card+`.querySelector(".noimg")).backgroundColor`); bg != "rgb(194, 54, 43)" {
			t.Errorf("the placeholder's background is %s, want our colour", bg)
		}
		for _, part := range []string{".noimg", ".card-summary", "progress"} {
			do(t, ctx, "home", chromedp.Navigate(base+"/"))
			do(t, ctx, "scroll the card into view", chromedp.Evaluate[chromedp.Void]((card)+`.scrollIntoView({block: "center"})`))
			xy := eval[[]float64](t, ctx, `(r => [r.left + r.width / 2, r.top + r.height / 2])((`+card+`).querySelector("`+part+`").getBoundingClientRect())`)
			if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.MouseClickXY(xy[0], xy[1]))); err != nil {
				t.Fatal(err)
			}
			if loc := eval[string](t, ctx, `location.pathname`); loc != "/c/"+s.plain {
				t.Errorf("tapping the card's %s leads to %s, want the cause", part, loc)
			}
		}
	})

	t.Run("the chosen image is kept when the form comes back with errors", func(t *testing.T) {
		pic := filepath.Join(t.TempDir(), "street.png")
		if err := os.WriteFile(pic, testPNG(t), 0o600); err != nil {
			t.Fatal(err)
		}
		do(t, ctx, "fill the form, leaving the title out", s.logIn(), chromedp.Navigate(base+"/campaigns/new"),
			chromedp.SetAttributeValue(chromedp.CSS(`main form`), "novalidate", ""),
			chromedp.SendKeys(chromedp.ID("summary"), "Swings for the small ones."),
			chromedp.SendKeys(chromedp.ID("target"), "The council"),
			chromedp.SendKeys(chromedp.ID("image_alt"), "A street under a blue sky"),
			chromedp.SetUploadFiles(chromedp.ID("image"), []string{pic}),
			submit(`main form button[type=submit]`))
		if got := text(t, ctx, "#form-errors"); !strings.Contains(got, "Title") {
			t.Fatalf("the form came back without the title's error: %q", got)
		}
		waitFor(t, ctx, "the chosen image shows, said to be kept",
			`(img => img && img.complete && img.naturalWidth === 320)(document.querySelector(".pending-image img"))`)
		if got := text(t, ctx, ".pending-image figcaption"); !strings.Contains(got, "no need to choose it again") {
			t.Errorf("the preview says %q", got)
		}
		do(t, ctx, "add the title and send again", chromedp.SendKeys(chromedp.ID("title"), "Swings in the park"),
			submit(`main form button[type=submit]`))
		slug := eval[string](t, ctx, `location.pathname.replace("/campaigns/", "")`)
		cz, err := s.ta.store.FindCauseBySlug(context.Background(), slug)
		if err != nil || cz.Image == "" || cz.ImageAlt != "A street under a blue sky" {
			t.Fatalf("the saved cause %q has image %q (%q), %v; want the image chosen before the error", slug, cz.Image, cz.ImageAlt, err)
		}
		if _, err := os.Stat(filepath.Join(s.ta.cfg.Data, "uploads", cz.Image)); err != nil {
			t.Errorf("the image's file: %v", err)
		}
		do(t, ctx, "log out", s.logOut())
	})

	t.Run("the dashboard on a phone shows every figure", func(t *testing.T) {
		do(t, ctx, "log in", s.logIn(), chromedp.Navigate(base+"/dashboard?lang=fr"))
		out := eval[string](t, ctx, `(() => {
			const bad = [];
			document.querySelectorAll("tbody td.num").forEach(td => {
				const r = td.getBoundingClientRect();
				if (r.left < 0 || r.right > innerWidth) bad.push(td.dataset.label + " " + td.textContent.trim() + " at " + Math.round(r.left) + "–" + Math.round(r.right));
			});
			const wrap = document.querySelector(".table-wrap");
			if (wrap.scrollWidth > wrap.clientWidth) bad.push("the table scrolls sideways: " + wrap.scrollWidth + " > " + wrap.clientWidth);
			document.querySelectorAll(".status-pill").forEach(p => {
				const range = document.createRange(); range.selectNodeContents(p);
				const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
				if (lines > 1) bad.push("“" + p.textContent + "” wraps onto " + lines + " lines");
			});
			return bad.join("; ");
		})()`)
		if out != "" {
			t.Error(out)
		}
		do(t, ctx, "log out", chromedp.Navigate(base+"/dashboard?lang=en"), s.logOut())
	})
}
