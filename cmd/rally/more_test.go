package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/csv"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 18))
	img.Set(1, 1, color.RGBA{200, 50, 40, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// postCause sends the cause form as a browser does, with an image file.
func (ta *testApp) postCause(c *http.Client, path, title, fileName string, file []byte) resp {
	ta.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range map[string]string{"title": title, "summary": "S", "target": "T", "goal": "100", "image_alt": "A red dot"} {
		w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("image", fileName)
	fw.Write(file)
	w.Close()
	req, _ := http.NewRequest("POST", ta.srv.URL+path, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	res, err := c.Do(req)
	if err != nil {
		ta.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: string(b), header: res.Header}
}

func TestCauseImageIsCheckedByContent(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)

	// Text named .png is refused, and the form keeps what was typed.
	r := ta.postCause(org, "/campaigns/new", "Fake picture", "photo.png", []byte("<svg onload=alert(1)>not a picture"))
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `value="Fake picture"`) {
		t.Fatalf("a text file named .png: status %d, want 422 with the title kept", r.status)
	}
	// A real PNG named .jpg is accepted as what it is.
	r = ta.postCause(org, "/campaigns/new", "Real picture", "photo.jpg", pngBytes(t))
	if r.status != http.StatusSeeOther {
		t.Fatalf("a PNG: status %d\n%s", r.status, r.body)
	}
	slug := strings.TrimPrefix(r.header.Get("Location"), "/campaigns/")
	cz, err := ta.store.FindCauseBySlug(context.Background(), slug)
	if err != nil || !strings.HasSuffix(cz.Image, ".png") {
		t.Fatalf("stored image = %q, %v; want a .png", cz.Image, err)
	}
	img := ta.do(org, "GET", "/uploads/"+cz.Image, nil)
	if img.status != http.StatusOK || img.header.Get("Content-Type") != "image/png" {
		t.Errorf("GET the image: status %d, type %q", img.status, img.header.Get("Content-Type"))
	}
	// Over 5 MB is refused.
	big := append(pngBytes(t), make([]byte, 5<<20)...)
	if r := ta.postCause(org, "/campaigns/new", "Huge", "big.png", big); r.status != http.StatusRequestEntityTooLarge && r.status != http.StatusUnprocessableEntity {
		t.Errorf("a 5 MB+ image: status %d, want 413 or 422", r.status)
	}
}

// The export streams past the server's write timeout: a slow reader still
// gets every row.
func TestExportOutlivesWriteTimeout(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Many signers")
	cz, _ := ta.store.FindCauseBySlug(context.Background(), slug)
	const n = 20000
	if err := ta.store.SeedSignatures(context.Background(), cz.ID, n, 5000); err != nil {
		t.Fatal(err)
	}
	// A server of its own with a short write timeout and small socket
	// buffers, so the kernel cannot take the whole file at once and the
	// server must wait on this slow reader past its timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ta.engine, WriteTimeout: 300 * time.Millisecond}
	go srv.Serve(smallBuffers{ln})
	defer srv.Close()
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	slow := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/campaigns/"+slug+"/signatures.csv", nil)
	for _, c := range org.Jar.Cookies(mustURL(t, ta.srv.URL)) {
		req.AddCookie(c)
	}
	res, err := slow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// Read slowly: the download takes well over the write timeout.
	var body bytes.Buffer
	buf := make([]byte, 16<<10)
	for {
		k, err := res.Body.Read(buf)
		body.Write(buf[:k])
		if err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body.String(), "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatalf("the export is cut short: %v (%d bytes)", err, body.Len())
	}
	if len(rows) != n+1 {
		t.Fatalf("export has %d rows, want %d and a header", len(rows)-1, n)
	}
}

func TestDonationsShowWhenStripeIsConfigured(t *testing.T) {
	ta := newTestApp(t, map[string]string{"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_WEBHOOK_SECRET": "whsec_123"})
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Fund us")
	page := ta.do(ta.client(), "GET", "/c/"+slug, nil)
	if !strings.Contains(page.body, `action="/c/`+slug+`/donate"`) {
		t.Errorf("the cause page has no donate form")
	}
	j := ta.do(ta.client(), "GET", "/c/"+slug+".json", nil)
	if !strings.Contains(j.body, `"donations":{"currency":"eur","total_minor":0,"count":0}`) {
		t.Errorf("JSON lacks the donations object: %s", j.body)
	}
	off := newTestApp(t, nil)
	org2, _ := off.organiser("Olive", "olive@example.org", false)
	slug2 := off.publishedCause(org2, "No money")
	if page := off.do(off.client(), "GET", "/c/"+slug2, nil); strings.Contains(page.body, "/donate") {
		t.Errorf("a donate form shows with donations off")
	}
	if j := off.do(off.client(), "GET", "/c/"+slug2+".json", nil); strings.Contains(j.body, "donations") {
		t.Errorf("JSON has donations with donations off: %s", j.body)
	}
	// After confirming, the thank-you page asks for a gift with the
	// person's address filled in, each person their own (the page is
	// put together from one rendering per count), and not when off.
	for _, who := range []string{"ada", "grace"} {
		ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm(who, who+"@example.org"))
		link := confirmLink.FindStringSubmatch(ta.lastMailTo(who + "@example.org"))
		thanks := ta.do(ta.client(), "POST", "/confirm/"+link[1], nil)
		if !strings.Contains(thanks.body, `action="/c/`+slug+`/donate"`) || !strings.Contains(thanks.body, `value="`+who+`@example.org"`) ||
			!strings.Contains(thanks.body, "/confirm/"+link[1]+"?lang=fr") {
			t.Errorf("%s's thank-you page lacks the donate form with their address, or their own language links", who)
		}
	}
	off.do(off.client(), "POST", "/c/"+slug2+"/sign", signForm("Ada", "ada@example.org"))
	link := confirmLink.FindStringSubmatch(off.lastMailTo("ada@example.org"))
	if thanks := off.do(off.client(), "POST", "/confirm/"+link[1], nil); strings.Contains(thanks.body, "/donate") {
		t.Errorf("the thank-you page asks for a gift with donations off")
	}
	// An admin's dashboard says how to turn donations on, only while off.
	admin2, _ := off.organiser("Ada", "ada-admin@example.org", true)
	if d := off.do(admin2, "GET", "/dashboard", nil); !strings.Contains(d.body, "STRIPE_SECRET_KEY") {
		t.Errorf("the dashboard does not say how to turn donations on")
	}
	admin, _ := ta.organiser("Ada", "ada-admin@example.org", true)
	if d := ta.do(admin, "GET", "/dashboard", nil); strings.Contains(d.body, "STRIPE_SECRET_KEY") {
		t.Errorf("the dashboard asks to turn on donations that are on")
	}
}

// smallBuffers accepts connections with a small send buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func mustURL(t testing.TB, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDemoOnlyOnAnEmptyDatabase(t *testing.T) {
	ta := newTestApp(t, nil)
	ctx := context.Background()
	for range 2 {
		if err := addDemo(ctx, ta.app); err != nil {
			t.Fatal(err)
		}
	}
	if n := ta.count(`SELECT count(*) FROM causes WHERE status = 'published'`); n != 1 {
		t.Fatalf("%d published causes after two demo runs, want 1", n)
	}
	if r := ta.do(ta.client(), "GET", "/", nil); !strings.Contains(r.body, "/c/safe-streets-around-our-schools") {
		t.Errorf("the home page does not list the demo cause")
	}
}

func TestBackupIsAConsistentCopy(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	ta.publishedCause(org, "Backed up")
	file := t.TempDir() + "/copy.db"
	env := map[string]string{"RALLY_DATA": ta.cfg.Data}
	if err := run(context.Background(), []string{"backup", file}, func(k string) string { return env[k] }, nil, io.Discard); err != nil {
		t.Fatal(err)
	}
	copyDB, err := sql.Open("sqlite3", "file:"+file+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	var ok string
	var n int
	if err := copyDB.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check of the copy = %q, %v", ok, err)
	}
	if err := copyDB.QueryRow(`SELECT count(*) FROM causes WHERE title = 'Backed up'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the copy has %d of the cause, %v", n, err)
	}
	if err := run(context.Background(), []string{"backup", file}, func(k string) string { return env[k] }, nil, io.Discard); err == nil {
		t.Errorf("backup over an existing file succeeded; want a refusal")
	}
}

func TestCLIAddsAnAdmin(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"RALLY_DATA": dir, "RALLY_PASSWORD": "a long enough password", "RALLY_LOG_LEVEL": "error"}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"organiser", "add", "--email", "Ana@Example.org", "--name", "Ana", "--admin"}, getenv, nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "added admin Ana <Ana@example.org>") {
		t.Errorf("output = %q", out.String())
	}
	if err := run(context.Background(), []string{"organiser", "add", "--email", "ana@example.org", "--name", "Again"}, getenv, nil, io.Discard); err == nil {
		t.Errorf("adding the same address twice succeeded")
	}
	env["RALLY_PASSWORD"] = "short"
	if err := run(context.Background(), []string{"organiser", "add", "--email", "bo@example.org", "--name", "Bo"}, getenv, nil, io.Discard); err == nil {
		t.Errorf("a 5-character password was accepted")
	}
}

// Public pages and JSON go out gzip-encoded to clients that take it, both
// when first rendered and from the cache.
func TestPublicPagesAreCompressed(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Squeezed")
	for _, path := range []string{"/c/" + slug, "/c/" + slug, "/c/" + slug + ".json", "/c/" + slug + ".json"} {
		r := ta.do(ta.client(), "GET", path, nil, "Accept-Encoding", "gzip")
		if r.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("GET %s: Content-Encoding %q, want gzip", path, r.header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := io.ReadAll(zr)
		if !strings.Contains(string(plain), "Squeezed") {
			t.Errorf("GET %s: the decoded body lacks the title", path)
		}
	}
	if r := ta.do(ta.client(), "GET", "/c/"+slug, nil, "Accept-Encoding", "identity"); r.header.Get("Content-Encoding") != "" || !strings.Contains(r.body, "Squeezed") {
		t.Errorf("without gzip: encoding %q", r.header.Get("Content-Encoding"))
	}
}

// The home page is cached like a cause page, yet lists a cause the moment
// it is published and shows a confirmation in its count at once.
func TestHomeShowsChangesAtOnce(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	visitor := ta.client()
	if r := ta.do(visitor, "GET", "/", nil); r.status != http.StatusOK || strings.Contains(r.body, "/c/") {
		t.Fatalf("home before any cause: status %d", r.status)
	}
	slug := ta.publishedCause(org, "Trees on every street")
	r := ta.do(visitor, "GET", "/", nil)
	if !strings.Contains(r.body, `href="/c/`+slug+`"`) || !strings.Contains(r.body, "0 signatures") {
		t.Fatalf("the home page does not list the cause just published, with no signatures yet")
	}
	ta.do(visitor, "POST", "/c/"+slug+"/sign", signForm("Ada", "ada@example.org"))
	link := confirmLink.FindStringSubmatch(ta.lastMailTo("ada@example.org"))
	ta.do(visitor, "POST", "/confirm/"+link[1], nil)
	if r := ta.do(visitor, "GET", "/", nil); !strings.Contains(r.body, "1 signature<") {
		t.Errorf("the home page's count does not show the confirmation")
	}
	if r := ta.do(visitor, "GET", "/", nil, "Accept-Encoding", "gzip"); r.header.Get("Content-Encoding") != "gzip" {
		t.Errorf("the home page is not gzip-encoded for a client that takes it")
	}
}
