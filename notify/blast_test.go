package notify

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
)

var netDNSNotFound = net.DNSError{Err: "no such host", IsNotFound: true}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// Each message of a blast is the organiser's, addressed to one person: From
// is "Name via Rally" at Rally's address, replies go to the organiser, the
// unsubscribe headers have RFC 8058's exact forms, and the footer says why
// the person gets it, with a visible unsubscribe link.
func TestBlastMessageHeaders(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	e.people(2)
	path := e.draft(nil)
	e.send(path)
	e.run()

	if got := len(e.smtp.received()); got != 2 {
		t.Fatalf("the server received %d messages, want 2", got)
	}
	ids := map[string]bool{}
	for _, to := range []string{"person0@example.org", "person1@example.org"} {
		ms := e.mails(to)
		if len(ms) != 1 {
			t.Fatalf("%s got %d messages, want 1", to, len(ms))
		}
		m := ms[0]
		from, err := mail.ParseAddress(m.header.Get("From"))
		if err != nil || from.Name != "Olive Organiser via Rally" || from.Address != "rally@example.org" {
			t.Errorf("From = %q, want Olive Organiser via Rally <rally@example.org>", m.header.Get("From"))
		}
		if got := m.header.Get("Reply-To"); !strings.Contains(got, "olive@example.org") {
			t.Errorf("Reply-To = %q, want the organiser's address", got)
		}
		// Exact forms, read from the raw header lines, not through a parser.
		lu := regexp.MustCompile(`(?m)^List-Unsubscribe: (.*)\r$`).FindSubmatch(m.raw)
		if lu == nil || !regexp.MustCompile(`^<https://rally\.test/u/[A-Za-z0-9_-]+>$`).Match(lu[1]) {
			t.Errorf("List-Unsubscribe line = %q, want <https://rally.test/u/{token}>", lu)
		}
		if !bytes.Contains(m.raw, []byte("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")) {
			t.Errorf("no exact List-Unsubscribe-Post: List-Unsubscribe=One-Click line in\n%s", m.raw)
		}
		id := m.header.Get("Message-ID")
		if id == "" || ids[id] {
			t.Errorf("Message-ID %q is missing or not unique", id)
		}
		ids[id] = true
		unsub := string(lu[1][1 : len(lu[1])-1])
		for part, body := range map[string]string{"text": m.text, "html": m.html} {
			if !strings.Contains(body, unsub) {
				t.Errorf("%s part has no visible unsubscribe link %s", part, unsub)
			}
			if !strings.Contains(body, "because you signed") || !strings.Contains(body, "Clean air for Rue des Tilleuls") {
				t.Errorf("%s part does not say why the person gets it:\n%s", part, body)
			}
			if !trackedLink.MatchString(body) {
				t.Errorf("%s part has no tracked link", part)
			}
			if strings.Contains(body, "https://example.org/write") || strings.Contains(body, "https://example.org/plan") {
				t.Errorf("%s part links to a target directly, not through /t/", part)
			}
		}
	}
}

// Tags are filled in per person, with the fallback for a person without a
// first name, in the subject, the body and the button; a person who signed
// in French gets the French version.
func TestBlastTagsAndVersions(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	e.aud.add(Recipient{Email: "ada@example.org", FirstName: "Ada", Lang: "en", Country: "GB"},
		Recipient{Email: "anon@example.org", FirstName: "", Lang: "en", Country: "GB"},
		Recipient{Email: "zoe@example.org", FirstName: "Zoé", Lang: "fr", Country: "FR"})
	path := e.draft(url.Values{
		"subject":      {"{first_name|Friend}, the mayor answers"},
		"body":         {"Dear {first_name|friend},\n\nWe are {cause_title}. Share: {share_link}"},
		"cta_label":    {"Go {first_name}"},
		"subject_fr":   {"{first_name|Ami}, le maire répond"},
		"body_fr":      {"Cher {first_name|ami},\n\nNous sommes {cause_title}."},
		"cta_label_fr": {"Écrire au maire"},
	})
	e.send(path)
	e.run()
	check := func(to, subject string, in ...string) {
		t.Helper()
		ms := e.mails(to)
		if len(ms) != 1 {
			t.Fatalf("%s got %d messages, want 1", to, len(ms))
		}
		dec := new(mime.WordDecoder)
		if got, _ := dec.DecodeHeader(ms[0].header.Get("Subject")); got != subject {
			t.Errorf("%s: subject %q, want %q", to, got, subject)
		}
		for _, want := range in {
			if !strings.Contains(ms[0].text, want) || !strings.Contains(ms[0].html, want) {
				t.Errorf("%s: %q missing from the text or HTML part:\n%s\n%s", to, want, ms[0].text, ms[0].html)
			}
		}
	}
	check("ada@example.org", "Ada, the mayor answers", "Dear Ada,", "We are Clean air for Rue des Tilleuls.",
		"Share: https://rally.test/c/clean-air", "Go Ada", "because you signed")
	check("anon@example.org", "Friend, the mayor answers", "Dear friend,", "Go ")
	check("zoe@example.org", "Zoé, le maire répond", "Cher Zoé,", "Nous sommes Clean air for Rue des Tilleuls.", "Écrire au maire",
		"parce que vous avez signé")
}

// Every mail is DKIM-signed when DKIM is set, and the signature verifies
// (go-msgauth, with the key published as the README says) and covers the
// unsubscribe headers, so no one on the way can change them.
func TestBlastDKIMVerifies(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDKIM("example.org", "rally1", key)
	if err != nil {
		t.Fatal(err)
	}
	e := newBlastEnv(t, blastEnvOptions{dkim: d})
	e.people(1)
	e.send(e.draft(nil))
	e.run()
	ms := e.mails("person0@example.org")
	if len(ms) != 1 {
		t.Fatalf("got %d messages, want 1", len(ms))
	}
	lookups := 0
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(ms[0].raw), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		lookups++
		if name != d.RecordName() || name != "rally1._domainkey.example.org" {
			t.Errorf("the verifier looked up %q", name)
		}
		return []string{d.Record()}, nil
	}})
	if err != nil || len(vs) != 1 {
		t.Fatalf("verify: %v, %d signatures", err, len(vs))
	}
	if vs[0].Err != nil {
		t.Fatalf("the DKIM signature does not verify: %v\n%s", vs[0].Err, ms[0].raw)
	}
	if vs[0].Domain != "example.org" || lookups != 1 {
		t.Errorf("signed for %q (lookups %d)", vs[0].Domain, lookups)
	}
	signed := strings.ToLower(strings.Join(vs[0].HeaderKeys, ":"))
	for _, h := range []string{"from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post"} {
		if !strings.Contains(":"+signed+":", ":"+h+":") {
			t.Errorf("the signature does not cover %s (h=%s)", h, signed)
		}
	}
	// Changing a signed header breaks it.
	tampered := bytes.Replace(ms[0].raw, []byte("List-Unsubscribe: <https://rally.test/u/"), []byte("List-Unsubscribe: <https://evil.test/u/"), 1)
	vs, err = dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{LookupTXT: func(string) ([]string, error) {
		return []string{d.Record()}, nil
	}})
	if err != nil || len(vs) != 1 || vs[0].Err == nil {
		t.Errorf("a changed List-Unsubscribe still verifies (%v)", err)
	}
}

// The call to action redirects to the address stored with the blast, and
// counts the click; a tampered or unknown token, or a token of another
// kind, answers 404 and redirects nowhere.
func TestTrackedLinkRedirectsOnlyToStoredAddresses(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	e.people(1)
	path := e.draft(nil)
	e.send(path)
	e.run()
	m := e.mails("person0@example.org")[0]
	links := trackedLink.FindAllString(m.text, -1)
	if len(links) < 2 {
		t.Fatalf("the text part has %d tracked links, want the body's and the button's:\n%s", len(links), m.text)
	}
	e.later()
	targets := map[string]bool{}
	for _, l := range links {
		r := e.do("GET", strings.TrimPrefix(l, testBase), nil)
		if r.status != http.StatusFound && r.status != http.StatusSeeOther {
			t.Fatalf("GET %s: status %d, want a redirect", l, r.status)
		}
		targets[r.header.Get("Location")] = true
	}
	if !targets["https://example.org/write"] || !targets["https://example.org/plan"] {
		t.Errorf("the links lead to %v, want the button's and the body's addresses", targets)
	}
	if j := e.stats(path); j.Clicks != int64(len(links)) || j.UniqueClickers != 1 {
		t.Errorf("clicks %d, unique clickers %d; want %d and 1", j.Clicks, j.UniqueClickers, len(links))
	}

	tok := strings.TrimPrefix(links[0], testBase+"/t/")
	unsub := strings.TrimPrefix(unsubLink.FindString(m.text), testBase+"/u/")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, target := range map[string]string{
		"tampered at the start":        "/t/" + flip(tok, 1),
		"tampered at the end":          "/t/" + flip(tok, len(tok)-1),
		"cut short":                    "/t/" + tok[:len(tok)-2],
		"unknown":                      "/t/" + strings.Repeat("A", len(tok)),
		"an unsubscribe token":         "/t/" + unsub,
		"a click token to unsubscribe": "/u/" + tok,
		"not base64":                   "/t/%3Cscript%3E",
	} {
		r := e.do("GET", target, nil)
		if r.status != http.StatusNotFound || r.header.Get("Location") != "" {
			t.Errorf("%s: status %d, Location %q; want 404 and no redirect", name, r.status, r.header.Get("Location"))
		}
	}
	if r := e.do("POST", "/u/"+tok, url.Values{"List-Unsubscribe": {"One-Click"}}); r.status != http.StatusNotFound {
		t.Errorf("one-click unsubscribe with a click token: status %d, want 404", r.status)
	}
	if n := e.stats(path).Unsubscribes; n != 0 {
		t.Errorf("%d unsubscribes from wrong tokens", n)
	}
}

// Clicks that look like a mail scanner's count in clicks and
// unique_clickers, not in human_clicks: a HEAD, a scanner's user agent, a
// click seconds after sending, every link at once, and the hidden link.
func TestScannerClicksAreCountedApart(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	addrs := e.people(6)
	path := e.draft(nil)
	e.send(path)
	e.run()
	linksOf := func(i int) []string {
		m := e.mails(addrs[i])[0]
		var out []string
		for _, l := range trackedLink.FindAllString(m.html, -1) {
			out = append(out, strings.TrimPrefix(l, testBase))
		}
		return out
	}
	get := func(target, agent string) {
		t.Helper()
		r := e.doAgent("GET", target, agent)
		if r.status != http.StatusFound {
			t.Fatalf("GET %s: status %d", target, r.status)
		}
	}
	human := "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
	// HTML links in order: the body's link, the button, the hidden link.
	// Person 0 clicks seconds after the mail went: a scanner.
	get(linksOf(0)[1], human)
	e.later()
	// Person 1's mail is fetched with HEAD.
	e.headKey = true
	get(linksOf(1)[1], human)
	e.headKey = false
	// Person 2's by a scanner's agent.
	get(linksOf(2)[1], "Mozilla/5.0 (compatible; Barracuda Sentinel)")
	// Person 3's: every link at once.
	for _, l := range linksOf(3) {
		get(l, human)
	}
	// Person 4's: the hidden link, then the button.
	l4 := linksOf(4)
	get(l4[len(l4)-1], human)
	get(l4[1], human)
	// Person 5: a person, a minute after the mail, the button only.
	get(linksOf(5)[1], human)

	j := e.stats(path)
	wantClicks := int64(1 + 1 + 1 + len(linksOf(3)) + 2 + 1)
	if j.Clicks != wantClicks || j.UniqueClickers != 6 {
		t.Errorf("clicks %d, unique clickers %d; want %d and 6 (every click counts there)", j.Clicks, j.UniqueClickers, wantClicks)
	}
	if j.HumanClicks != 1 {
		t.Errorf("human clicks %d, want 1 (person 5's)", j.HumanClicks)
	}
}

// POST /u/{token} with List-Unsubscribe=One-Click, with no cookie, answers
// 200 and unsubscribes from the cause: the next blast skips the address.
func TestOneClickUnsubscribeHoldsForTheNextBlast(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	e.people(3)
	first := e.draft(nil)
	e.send(first)
	e.run()
	link := unsubLink.FindString(e.mails("person1@example.org")[0].text)
	// A GET only shows the page.
	if r := e.do("GET", strings.TrimPrefix(link, testBase), nil); r.status != http.StatusOK || !strings.Contains(r.body, `name="scope" value="all"`) {
		t.Fatalf("GET the unsubscribe page: status %d, or no choice of every campaign email", r.status)
	}
	if e.stats(first).Unsubscribes != 0 {
		t.Fatal("opening the unsubscribe page unsubscribed")
	}
	r := e.do("POST", strings.TrimPrefix(link, testBase), url.Values{"List-Unsubscribe": {"One-Click"}})
	if r.status != http.StatusOK {
		t.Fatalf("one-click POST: status %d, want 200", r.status)
	}
	if n := e.stats(first).Unsubscribes; n != 1 {
		t.Errorf("unsubscribes = %d, want 1", n)
	}
	second := e.draft(url.Values{"subject": {"Second news"}})
	e.send(second)
	e.run()
	if got := len(e.mails("person1@example.org")); got != 1 {
		t.Errorf("the unsubscribed address got %d mails in all, want only the first blast's", got)
	}
	if got := len(e.mails("person0@example.org")); got != 2 {
		t.Errorf("another address got %d mails, want 2", got)
	}
	if j := e.stats(second); j.Recipients != 2 || j.Sent != 2 {
		t.Errorf("second blast: recipients %d, sent %d; want 2 and 2", j.Recipients, j.Sent)
	}
}

// An unsubscribe holds for a blast already sending: the worker checks the
// address just before it sends.
func TestUnsubscribeHoldsForABlastAlreadySending(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{})
	e.people(3)
	first := e.draft(nil)
	e.send(first)
	e.run()
	link := unsubLink.FindString(e.mails("person2@example.org")[0].text)
	second := e.draft(url.Values{"subject": {"Second news"}})
	e.send(second)
	// The deliveries are written and in the outbox…
	for range 5 {
		if _, err := e.blasts.Step(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// …when the person unsubscribes from every campaign email.
	if r := e.do("POST", strings.TrimPrefix(link, testBase), url.Values{"scope": {"all"}}); r.status != http.StatusOK {
		t.Fatalf("unsubscribe: status %d", r.status)
	}
	e.run()
	if got := len(e.mails("person2@example.org")); got != 1 {
		t.Errorf("the address got %d mails, want 1: the second blast went after the unsubscribe", got)
	}
	if j := e.stats(second); j.Suppressed != 1 || j.Sent != 2 || j.Status != BlastSent {
		t.Errorf("second blast: %+v; want 1 suppressed, 2 sent, status sent", j)
	}
}

// A mailbox that does not exist (550 5.1.1) bounces and is suppressed from
// every later blast; a policy refusal (550 5.7.1) fails without
// suppressing; a 4xx is retried with backoff, then delivered.
func TestRefusalsBounceFailOrRetry(t *testing.T) {
	e := newBlastEnv(t, blastEnvOptions{smtp: smtpOptions{Reject: map[string]*smtp.SMTPError{
		"person0@example.org": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
		"person1@example.org": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Blocked by policy"},
		"person2@example.org": {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"},
		"person3@example.org": {Code: 553, Message: "Mailbox name not allowed"},
	}}})
	e.people(5)
	path := e.draft(nil)
	e.send(path)
	e.run()
	j := e.stats(path)
	if j.Bounced != 2 || j.Failed != 1 || j.Sent != 1 || j.Queued != 1 || j.Status != BlastSending {
		t.Fatalf("after the first round: %+v; want 2 bounced, 1 failed, 1 sent, 1 waiting to retry", j)
	}
	var attempts int
	var reply string
	if err := e.r.QueryRow(`SELECT attempts, last_reply FROM blast_deliveries WHERE email = 'person2@example.org'`).Scan(&attempts, &reply); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || !strings.Contains(reply, "451") {
		t.Errorf("the retried delivery: attempts %d, last reply %q", attempts, reply)
	}
	// The relay takes it once the backoff is over.
	delete(e.smtp.opts.Reject, "person2@example.org")
	e.clock.Add(2 * backoff[0])
	e.run()
	if j := e.stats(path); j.Sent != 2 || j.Queued != 0 || j.Status != BlastSent {
		t.Errorf("after the retry: %+v; want 2 sent and the blast sent", j)
	}
	var n int
	if err := e.r.QueryRow(`SELECT count(*) FROM suppressions WHERE reason = 'bounce' AND cause_id = 0`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d bounce suppressions, %v; want 2 (not the policy refusal)", n, err)
	}
	// The next blast goes to neither bounced address, but again to the one
	// refused by policy.
	next := e.draft(url.Values{"subject": {"Next"}})
	e.send(next)
	e.run()
	if j := e.stats(next); j.Recipients != 3 {
		t.Errorf("next blast: %d recipients, want 3", j.Recipients)
	}
	if got := len(e.mails("person0@example.org")) + len(e.mails("person3@example.org")); got != 0 {
		t.Errorf("bounced addresses received %d mails", got)
	}
}
