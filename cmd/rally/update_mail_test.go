package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// mailbox is an SMTP server in the test process that keeps every message,
// with the address it went to.
type mailbox struct {
	mu   sync.Mutex
	msgs []boxed
}

type boxed struct{ to, data string }

func startMailbox(t *testing.T) (*mailbox, string) {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailboxSession{mb: mb}, nil }))
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return mb, l.Addr().String()
}

// last returns the newest message to an address whose text holds want,
// quoted-printable undone, or "".
func (mb *mailbox) last(to, want string) string {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	for i := len(mb.msgs) - 1; i >= 0; i-- {
		if m := mb.msgs[i]; strings.EqualFold(m.to, to) {
			if text := decodeQP(m.data); strings.Contains(text, want) {
				return text
			}
		}
	}
	return ""
}

type mailboxSession struct {
	mb *mailbox
	to string
}

func (s *mailboxSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *mailboxSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }
func (s *mailboxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, boxed{to: s.to, data: string(b)})
	s.mb.mu.Unlock()
	return nil
}
func (s *mailboxSession) Reset()        {}
func (s *mailboxSession) Logout() error { return nil }

// An update posted with the email box ticked becomes a draft blast; once
// the organiser confirms it on the blast's page, the supporter who asked
// for updates gets a mail whose call to action leads, through the tracked
// link, to the update on the cause's page. Another organiser cannot post
// an update on the cause, so cannot mail its supporters.
func TestUpdateMailedThroughItsBlast(t *testing.T) {
	mb, addr := startMailbox(t)
	ta := newTestApp(t, map[string]string{"RALLY_SMTP_URL": "smtp://" + addr + "?tls=none", "RALLY_MAIL_FROM": "Rally <rally@example.org>"})
	org, _ := ta.organiser("Olive Organiser", "olive@example.org", false)
	stranger, _ := ta.organiser("Sam Stranger", "sam@example.org", false)
	slug := ta.publishedCause(org, "Clean air for schools")

	visitor := ta.client()
	if r := ta.do(visitor, "POST", "/c/"+slug+"/sign", signForm("Ada Lovelace", "ada@example.org")); r.status != http.StatusOK && r.status != http.StatusSeeOther {
		t.Fatalf("sign: status %d", r.status)
	}
	ta.runBlasts()
	m := confirmLink.FindStringSubmatch(mb.last("ada@example.org", "/confirm/"))
	if m == nil {
		t.Fatal("no confirmation link mailed")
	}
	if r := ta.do(visitor, "POST", "/confirm/"+m[1], nil); r.status >= 400 {
		t.Fatalf("confirm: status %d", r.status)
	}

	form := url.Values{"title": {"We met the mayor"}, "body": {"Hello {first_name|friend}, it went **well**."}, "email": {"1"}}
	if r := ta.do(stranger, "POST", "/campaigns/"+slug+"/updates", form); r.status != http.StatusNotFound {
		t.Errorf("another organiser's update: status %d, want 404", r.status)
	}
	r := ta.do(org, "POST", "/campaigns/"+slug+"/updates", form)
	path := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !blastPathRE.MatchString(path) {
		t.Fatalf("post the update: status %d, Location %q; want 303 to its blast", r.status, path)
	}
	if n := ta.count(`SELECT count(*) FROM blasts`); n != 1 {
		t.Errorf("%d blasts, want 1", n)
	}
	page := ta.do(org, "GET", path, nil)
	if !strings.Contains(page.body, "Send to 1 person?") || !strings.Contains(page.body, "Its email is ready") {
		t.Errorf("the blast's page lacks the confirmation or the notice:\n%s", page.body)
	}
	ta.runBlasts()
	if mb.last("ada@example.org", "We met the mayor") != "" {
		t.Fatal("the update was mailed before the organiser confirmed")
	}

	if r := ta.do(org, "POST", path+"/send", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("send: status %d\n%s", r.status, r.body)
	}
	ta.runBlasts()
	eml := mb.last("ada@example.org", "We met the mayor")
	if eml == "" {
		t.Fatal("no mail of the update")
	}
	if !strings.Contains(eml, "Hello Ada, it went") {
		t.Error("the mail does not carry the update's text, personalised")
	}
	cta := regexp.MustCompile(`Read the update: https?://[^/\s]+(/t/[A-Za-z0-9_.-]+)`).FindStringSubmatch(eml)
	if cta == nil {
		t.Fatalf("no tracked call to action in the mail:\n%s", eml)
	}
	var updateID int64
	if err := ta.reader.QueryRow(`SELECT id FROM cause_updates WHERE title = 'We met the mayor'`).Scan(&updateID); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, ta.srv.URL+cta[1], nil)
	req.Header.Set("User-Agent", chromeAgent)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	want := ta.srv.URL + "/c/" + slug + "#update-" + strconv.FormatInt(updateID, 10)
	if (res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther) || res.Header.Get("Location") != want {
		t.Errorf("the call to action: status %d, Location %q; want a redirect to %s", res.StatusCode, res.Header.Get("Location"), want)
	}
	if cause := ta.do(ta.client(), "GET", "/c/"+slug, nil); !strings.Contains(cause.body, `id="update-`+strconv.FormatInt(updateID, 10)+`"`) {
		t.Error("the cause page has no anchor for the update")
	}
}
