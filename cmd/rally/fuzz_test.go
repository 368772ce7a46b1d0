package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzRequests sends whatever the fuzzer makes of a request — method, path
// and query, body and its type, a language, with or without an organiser's
// session — to a whole Rally, and fails on any 5xx: nothing a user or a bot
// can send may break a page. `go test` runs the seeds below; explore with
//
//	go test ./cmd/rally -run XXX -fuzz FuzzRequests -fuzztime 5m
func FuzzRequests(f *testing.F) {
	ta := newTestAppTB(f, map[string]string{"RALLY_RATE_LIMITS": "off"})
	org, _ := ta.organiser("Fuzz Organiser", "fuzz@example.org", true)
	slug := ta.publishedCause(org, "Fuzz the streets")
	var session string
	for _, c := range org.Jar.Cookies(mustURL(f, ta.srv.URL)) {
		session += c.Name + "=" + c.Value + "; "
	}
	form := "application/x-www-form-urlencoded"
	sign := url.Values{"name": {"Ada Lovelace"}, "email": {"ada@example.org"}, "country": {"FR"}, "public": {"1"}}.Encode()
	cause := url.Values{"title": {"A title"}, "summary": {"s"}, "target": {"t"}, "goal": {"10"}, "body": {"b"}}.Encode()
	for _, s := range []struct {
		method, path, body, ctype string
		organiser                 bool
	}{
		{"GET", "/", "", "", false},
		{"GET", "/?lang=fr&q=%ff", "", "", false},
		{"GET", "/c/" + slug, "", "", false},
		{"GET", "/c/" + slug + "?ref=%00%ff&lang=xx", "", "", false},
		{"GET", "/c/" + slug + ".json", "", "", false},
		{"GET", "/c/nope.json", "", "", false},
		{"POST", "/c/" + slug + "/sign", sign, form, false},
		{"POST", "/c/" + slug + "/sign", "name=%ff&email=a%40b&country=ZZ&comment=" + strings.Repeat("x", 3000), form, false},
		{"POST", "/c/" + slug + "/sign", "%zz=1&&=&email", form, false},
		{"POST", "/c/" + slug + "/sign", "--x\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.c\r\n--x--", "multipart/form-data; boundary=x", false},
		{"POST", "/c/" + slug + "/sign", `{"email":"a@b.c"}`, "application/json", false},
		{"GET", "/confirm/0000000000000000AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", "", false},
		{"POST", "/confirm/ffffffffffffffffAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", form, false},
		{"POST", "/confirm/%2e%2e", "", form, false},
		{"GET", "/uploads/..%2f..%2frally.db", "", "", false},
		{"GET", "/privacy?lang=fr", "", "", false},
		{"POST", "/signup", "name=x&email=bad&password=short", form, false},
		{"POST", "/login", "email=fuzz%40example.org&password=wrong", form, false},
		{"POST", "/account/confirm-resend", "email=%ff", form, false},
		{"GET", "/account/confirm/zzz", "", "", false},
		{"POST", "/webhooks/stripe", "{}", "application/json", false},
		{"GET", "/donations/cancel/x", "", "", false},
		{"GET", "/dev/mail/..%2f..%2frally.db", "", "", false},
		{"GET", "/static/none.css", "", "", false},
		{"GET", "/dashboard?page=-1", "", "", true},
		{"GET", "/campaigns/" + slug + "?page=99999999999999999999&before=x", "", "", true},
		{"POST", "/campaigns/new", cause, form, true},
		{"POST", "/campaigns/new", "title=&goal=-1&ends_on=2020-13-45", form, true},
		{"POST", "/campaigns/new", "--x\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nGIF89a\r\n--x--", "multipart/form-data; boundary=x", true},
		{"POST", "/campaigns/" + slug + "/edit", "title=" + strings.Repeat("é", 500), form, true},
		{"POST", "/campaigns/" + slug + "/status", "status=victory", form, true},
		{"POST", "/campaigns/" + slug + "/status", "status=nonsense", form, true},
		{"GET", "/campaigns/" + slug + "/signatures.csv", "", "", true},
		{"GET", "/campaigns/" + slug + "/donations", "", "", true},
		{"GET", "/t/AAAA.bm90LWEtdG9rZW4", "", "", false},
		{"POST", "/u/%ff%00", "List-Unsubscribe=One-Click", form, false},
		{"POST", "/u/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "scope=all", form, false},
		{"POST", "/campaigns/" + slug + "/blasts", "subject=%ff{first_name|&body={x}&cta_url=javascript:alert(1)&countries=ZZZ", form, true},
		{"GET", "/campaigns/" + slug + "/blasts/99999999999999999999.json", "", "", true},
		{"POST", "/campaigns/" + slug + "/blasts/1/send", "send_at=9999-99-99T99:99&tz=../../etc/passwd", form, true},
		{"POST", "/admin/organisers/-1/blast-cap", "daily_cap=1e99&slug=%ff", form, true},
	} {
		f.Add(s.method, s.path, []byte(s.body), s.ctype, "fr-CA,en;q=0.5", s.organiser)
	}
	f.Fuzz(func(t *testing.T, method, path string, body []byte, ctype, lang string, organiser bool) {
		req, err := http.NewRequest(method, "http://rally.test"+path, bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(path, "/") {
			return // not a request the HTTP server would hand to Rally
		}
		if strings.HasPrefix(req.URL.Path, "/logout") {
			return // it takes no input, and would end the session the other inputs use
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		req.Header.Set("Accept-Language", lang)
		if organiser {
			req.Header.Set("Cookie", session)
		}
		req.RemoteAddr = "192.0.2.1:1234"
		rec := httptest.NewRecorder()
		ta.engine.ServeHTTP(rec, req)
		t.Logf("%s %s, organiser %v: %d", method, path, organiser, rec.Code)
		if rec.Code >= 500 {
			t.Errorf("%s %s (%q, %d bytes of %q, organiser %v): status %d\n%s", method, path, lang, len(body), ctype,
				organiser, rec.Code, rec.Body.String())
		}
	})
}
