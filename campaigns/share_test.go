package campaigns

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// personalLink finds the personal link on a page, and its code.
var personalLink = regexp.MustCompile(`id="share-url" value="http://rally\.test/c/[a-z0-9-]+\?ref=([a-z0-9]+)"`)

// thanksMailData returns the data of the latest mail of the kind to email.
func (env *pagesEnv) mailData(email, kind string) map[string]string {
	env.t.Helper()
	var data string
	if err := env.w.QueryRow(`SELECT data FROM outbox WHERE to_addr = ? AND kind = ? ORDER BY id DESC LIMIT 1`, email, kind).Scan(&data); err != nil {
		env.t.Fatalf("no %s mail to %s: %v", kind, email, err)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		env.t.Fatalf("%s mail to %s: %v: %s", kind, email, err, data)
	}
	return m
}

// A signer's personal link brings a new signer who counts for them once
// both signatures are confirmed: on their thank-you page when they come
// back, and on the private page mailed to them, never on the cause page
// everyone with the link sees. The channel rides along into the signature.
func TestPersonalLinkCountsRecruits(t *testing.T) {
	env := newPagesEnv(t)
	c := env.cause(CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor"})
	env.post("/c/"+c.Slug+"/sign", url.Values{"name": {"Ada Lovelace"}, "email": {"ada@example.org"}, "country": {"FR"}})
	adaToken := env.token("ada@example.org")
	thanks := env.post("/confirm/"+adaToken, nil)
	m := personalLink.FindStringSubmatch(thanks)
	if m == nil {
		t.Fatalf("the thank-you page has no personal link:\n%s", thanks)
	}
	code := m[1]
	if len(code) != ShareCodeLen {
		t.Errorf("share code %q: %d characters, want %d", code, len(code), ShareCodeLen)
	}
	for _, want := range []string{"https://wa.me/?text=", "utm_source%3dwhatsapp", "https://t.me/share/url?url=", "https://bsky.app/intent/compose",
		"https://www.linkedin.com/sharing/share-offsite/", "https://x.com/intent/post", "https://www.facebook.com/sharer/sharer.php", "mailto:?subject=",
		"ref%3d" + code, "data-share-url=\"http://rally.test/c/" + c.Slug + "?ref=" + code + "&amp;utm_source=share\""} {
		if !strings.Contains(thanks, want) {
			t.Errorf("the thank-you page's share links lack %q", want)
		}
	}
	mail := env.mailData("ada@example.org", "signature_thanks")
	if want := "http://rally.test/c/" + c.Slug + "?ref=" + code; mail["ShareURL"] != want {
		t.Errorf("the mail after confirming gives the link %q, want %q", mail["ShareURL"], want)
	}
	recruitsURL := strings.TrimPrefix(mail["RecruitsURL"], "http://rally.test")
	if !strings.HasPrefix(recruitsURL, "/c/"+c.Slug+"/recruits/") {
		t.Fatalf("the mail after confirming has no private recruits link: %q", mail["RecruitsURL"])
	}

	// Ben comes through Ada's link, shared on WhatsApp.
	page := env.get("/c/" + c.Slug + "?ref=" + code + "&utm_source=WhatsApp")
	for _, want := range []string{`name="ref" value="` + code + `"`, `name="source" value="whatsapp"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the cause page of Ada's link lacks %s", want)
		}
	}
	if strings.Contains(page, "signed through you") {
		t.Error("the cause page of Ada's link shows her recruits to everyone who has it")
	}
	env.post("/c/"+c.Slug+"/sign", url.Values{"name": {"Ben"}, "email": {"ben@example.org"}, "country": {"FR"},
		"ref": {code}, "source": {"whatsapp"}})
	var ref, source string
	if err := env.w.QueryRow(`SELECT ref, source FROM signatures WHERE email = 'ben@example.org'`).Scan(&ref, &source); err != nil {
		t.Fatal(err)
	}
	if ref != code || source != "whatsapp" {
		t.Errorf("Ben's signature came through %q by %q, want %q by whatsapp", ref, source, code)
	}
	if body := env.get(recruitsURL); !strings.Contains(body, "Nobody has signed through your link yet") {
		t.Errorf("before Ben confirms, Ada's recruits page does not say nobody yet:\n%s", body)
	}
	env.post("/confirm/"+env.token("ben@example.org"), nil)
	r := env.do(http.MethodGet, recruitsURL, nil)
	if r.code != http.StatusOK || !strings.Contains(r.body, "1 person signed through you") {
		t.Errorf("once Ben confirmed, Ada's recruits page: status %d, want 1 person:\n%s", r.code, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" || !strings.Contains(r.body, `name="robots" content="noindex"`) {
		t.Errorf("the recruits page is kept by caches (%q) or indexed", cc)
	}
	if again := env.post("/confirm/"+adaToken, nil); !strings.Contains(again, "1 person signed through you") ||
		!strings.Contains(again, "?ref="+code) {
		t.Error("Ada's thank-you page, when she comes back, does not count Ben or lost her link")
	}
	if got, err := env.store.Recruits(context.Background(), c.ID, code); err != nil || got != 1 {
		t.Errorf("Recruits = %d, %v; want 1", got, err)
	}

	// Someone else's token, one for another cause, or one cut short: 404.
	other := env.cause(CauseInput{Title: "Other", Summary: "s", Target: "t"})
	token := strings.TrimPrefix(recruitsURL, "/c/"+c.Slug+"/recruits/")
	token, _, _ = strings.Cut(token, "?")
	for _, bad := range []string{"/c/" + c.Slug + "/recruits/" + token[:47] + "x", "/c/" + other.Slug + "/recruits/" + token,
		"/c/" + c.Slug + "/recruits/" + token[:40]} {
		if r := env.do(http.MethodGet, bad, nil); r.code != http.StatusNotFound || strings.Contains(r.body, "signed through you") {
			t.Errorf("GET %s: status %d, want 404", bad, r.code)
		}
	}
}

// The channel of a signing: utm_source kept as a short lower-case name, a
// personal link with no channel is "link", and nothing else is kept.
func TestSigningChannel(t *testing.T) {
	for _, tc := range []struct{ source, ref, want string }{
		{"whatsapp", "", "whatsapp"},
		{"News.Letter_2", "", "news.letter_2"},
		{"", "abc", SourceLink},
		{"qr", "abc", "qr"},
		{"<script>", "", ""},
		{strings.Repeat("a", MaxSource+1), "", ""},
		{"", "", ""},
	} {
		in := SignInput{Name: "Ada", Email: "ada@example.org", Country: "FR", Source: tc.source, Ref: tc.ref}
		in.Validate()
		if in.Source != tc.want {
			t.Errorf("source %q, ref %q: kept %q, want %q", tc.source, tc.ref, in.Source, tc.want)
		}
	}
}

// Two counted signers of a cause never share a code: a confirmation whose
// code another counted signer has gets a new one.
func TestShareCodesUniquePerCause(t *testing.T) {
	s, _, cz := newTestStore(t)
	ctx := context.Background()
	var codes []string
	for _, email := range []string{"ada@example.org", "ben@example.org"} {
		sg := testSigning(cz, email)
		sg.Code = "samecode22"
		if _, err := s.Sign(ctx, sg); err != nil {
			t.Fatal(err)
		}
		res, err := s.Confirm(ctx, sg.Token)
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, res.ShareCode)
	}
	if codes[0] != "samecode22" || codes[1] == codes[0] || len(codes[1]) != ShareCodeLen {
		t.Errorf("codes %q: want the first kept and a new one for the second", codes)
	}
	var stored string
	if err := s.r.QueryRow(`SELECT share_code FROM signatures WHERE email = 'ben@example.org'`).Scan(&stored); err != nil || stored != codes[1] {
		t.Errorf("Ben's stored code %q, %v; want %q", stored, err, codes[1])
	}
}

// Codes are made of the 32 letters and digits that cannot be misread, and
// do not repeat.
func TestNewShareCode(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		c := NewShareCode()
		if len(c) != ShareCodeLen || strings.Trim(c, shareAlphabet) != "" {
			t.Fatalf("code %q", c)
		}
		if seen[c] {
			t.Fatalf("code %q twice in 10,000", c)
		}
		seen[c] = true
	}
	if got, want := ShareLink("https://rally.example/", "clean-air", "abc"), "https://rally.example/c/clean-air?ref=abc"; got != want {
		t.Errorf("ShareLink = %q, want %q", got, want)
	}
}

// signAndConfirm signs the cause as name with the form's other fields,
// confirms through the mailed link, and returns the signer's share code.
func (env *siteEnv) signAndConfirm(slug, name, email string, extra url.Values) string {
	env.t.Helper()
	form := url.Values{"name": {name}, "email": {email}, "country": {"FR"}}
	for k, v := range extra {
		form[k] = v
	}
	if rec := env.post("/c/"+slug+"/sign", form, nil); rec.Code != http.StatusOK {
		env.t.Fatalf("sign as %s: status %d", name, rec.Code)
	}
	var data string
	if err := env.w.QueryRow(`SELECT data FROM outbox WHERE to_addr = ? AND kind = 'signature_confirm' ORDER BY id DESC LIMIT 1`, email).Scan(&data); err != nil {
		env.t.Fatal(err)
	}
	token := outboxToken.FindStringSubmatch(data)[1]
	if rec := env.post("/confirm/"+token, nil, nil); rec.Code != http.StatusOK {
		env.t.Fatalf("confirm as %s: status %d", name, rec.Code)
	}
	var code string
	if err := env.w.QueryRow(`SELECT share_code FROM signatures WHERE email = ?`, email).Scan(&code); err != nil {
		env.t.Fatal(err)
	}
	return code
}

// The organiser sees where the signatures came from (by channel and by
// day), who brought the most, named only if they agreed to be shown, and
// the snippet that embeds the sign form; the CSV export says, for each
// signer, their code, the code they came through and the channel.
func TestOrganiserSeesWhereSignaturesCameFrom(t *testing.T) {
	env := newSiteEnv(t)
	o, session := env.organiser("olive@example.org", false, true)
	cz, err := env.store.CreateCause(context.Background(), o.ID, CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor", Goal: 100, Lang: "en"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.store.SetStatus(context.Background(), cz.ID, Published); err != nil {
		t.Fatal(err)
	}
	ada := env.signAndConfirm(cz.Slug, "Ada Lovelace", "ada@example.org", url.Values{"public": {"1"}, "source": {"whatsapp"}})
	env.signAndConfirm(cz.Slug, "Ben Bell", "ben@example.org", url.Values{"ref": {ada}})
	cleo := env.signAndConfirm(cz.Slug, "Cleo Secret", "cleo@example.org", url.Values{"source": {"qr"}})
	env.signAndConfirm(cz.Slug, "Dan", "dan@example.org", url.Values{"ref": {cleo}, "source": {"telegram"}})
	env.signAndConfirm(cz.Slug, "Eve", "eve@example.org", url.Values{"ref": {cleo}})

	rec := env.get("/campaigns/"+cz.Slug, session)
	if rec.Code != http.StatusOK {
		t.Fatalf("overview: status %d", rec.Code)
	}
	page := rec.Body.String()
	channels := regexp.MustCompile(`<tr><th scope="row">([^<]+)</th><td class="num">(\d+) <meter`).FindAllStringSubmatch(page, -1)
	got := map[string]string{}
	for _, m := range channels {
		got[m[1]] = m[2]
	}
	for name, n := range map[string]string{"Personal links": "2", "WhatsApp": "1", "Telegram": "1", "QR code": "1"} {
		if got[name] != n {
			t.Errorf("signatures by channel: %s = %q, want %s (all: %v)", name, got[name], n, got)
		}
	}
	if !strings.Contains(page, `<time datetime="2026-11-25">25 November 2026</time></td><td class="num">5</td>`) {
		t.Error("signatures by day do not count today's five")
	}
	top := regexp.MustCompile(`(?s)<ol class="top-recruiters">(.*?)</ol>`).FindStringSubmatch(page)
	if top == nil {
		t.Fatal("no top recruiters")
	}
	first, second, _ := strings.Cut(top[1], "</li>")
	if !strings.Contains(first, "Someone who chose not to be named") || !strings.Contains(first, "2 signatures") ||
		!strings.Contains(second, "Ada") || !strings.Contains(second, "1 signature") {
		t.Errorf("top recruiters: want the unnamed recruiter of two, then Ada with one:\n%s", top[1])
	}
	if strings.Contains(top[1], "Cleo") {
		t.Error("a recruiter who did not agree to be shown is named")
	}
	if want := `&lt;iframe src=&#34;http://rally.test/c/` + cz.Slug + `/embed&#34;`; !strings.Contains(page, want) {
		t.Errorf("the overview lacks the embed snippet %s", want)
	}

	rec = env.get("/campaigns/"+cz.Slug+"/signatures.csv", session)
	records, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(rec.Body.String(), "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := strings.Join(records[0], ",")
	if !strings.HasSuffix(head, ",ref,referred_by,source") {
		t.Fatalf("CSV header %s: want ref, referred_by and source", head)
	}
	rows := map[string][]string{}
	for _, r := range records[1:] {
		rows[r[0]] = r[len(r)-3:]
	}
	for name, want := range map[string][]string{"Ada Lovelace": {ada, "", "whatsapp"}, "Ben Bell": {"", ada, "link"},
		"Dan": {"", cleo, "telegram"}} {
		got := rows[name]
		if got == nil || (want[0] != "" && got[0] != want[0]) || len(got[0]) != ShareCodeLen || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("CSV row of %s ends %q, want code %q, referred by %q, source %q", name, got, want[0], want[1], want[2])
		}
	}
}

// A signer who opens their confirmation link again, from the mail, finds
// their personal link one button away: the used link's page posts to the
// thank-you page, which has it.
func TestUsedConfirmLinkLeadsToPersonalLink(t *testing.T) {
	env := newPagesEnv(t)
	c := env.cause(CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor"})
	env.post("/c/"+c.Slug+"/sign", url.Values{"name": {"Ada Lovelace"}, "email": {"ada@example.org"}, "country": {"FR"}})
	token := env.token("ada@example.org")
	code := personalLink.FindStringSubmatch(env.post("/confirm/"+token, nil))
	if code == nil {
		t.Fatal("the thank-you page has no personal link")
	}
	used := env.get("/confirm/" + token)
	if !strings.Contains(used, `<form method="post" action="/confirm/`+token+`"`) {
		t.Fatalf("the used link's page has no button to the personal link:\n%s", used)
	}
	if again := personalLink.FindStringSubmatch(env.post("/confirm/"+token, nil)); again == nil || again[1] != code[1] {
		t.Errorf("the button leads to the personal link %v, want %q", again, code[1])
	}
}
