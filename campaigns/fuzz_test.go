package campaigns

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The fuzz targets below run their seeds (testdata/fuzz/<name>/) with every
// `go test`; .ci/run also explores each for a few seconds. Explore longer
// with, for example,
//
//	go test ./campaigns -run XXX -fuzz '^FuzzReadSignForm$' -fuzztime 5m

// FuzzReadSignForm: the sign form's own urlencoded reader reads what
// net/url's parser reads (the first value of each field), refuses what it
// refuses, and never panics; a multipart body goes through net/http. A
// second form read after the first leaves the first's values alone (the
// reader reuses its buffers).
func FuzzReadSignForm(f *testing.F) {
	fields := []string{"name", "email", "country", "postcode", "comment", "public", "updates", "ref", "website"}
	read := func(body, ctype string) (signForm, error) {
		r := httptest.NewRequest(http.MethodPost, "/c/x/sign", strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		return readSignForm(r)
	}
	f.Fuzz(func(t *testing.T, body string, multipartBody bool) {
		if multipartBody && len(body) < 32<<10 {
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			mw.WriteField("name", body)
			mw.WriteField("email", "ada@example.org")
			mw.Close()
			got, err := read(b.String(), mw.FormDataContentType())
			if err != nil || got.Name != body || got.Email != "ada@example.org" {
				t.Errorf("multipart with name %q: %+v, %v", body, got, err)
			}
			// Whatever the body, as multipart it is an error or a form.
			_, _ = read(body, "multipart/form-data; boundary=x")
			return
		}
		got, err := read(body, "application/x-www-form-urlencoded; charset=UTF-8")
		want, wantErr := url.ParseQuery(body)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("body %q: error %v, net/url's %v", body, err, wantErr)
		}
		if err != nil {
			return
		}
		check := func(got signForm) {
			for i, name := range fields {
				if g, w := *got.field(i), want.Get(name); g != w {
					t.Errorf("body %q: %s = %q, net/url reads %q", body, name, g, w)
				}
			}
		}
		check(got)
		other := strings.Repeat("x", len(body)) + "&name=other&email=other%40example.org"
		if _, err := read(other, "application/x-www-form-urlencoded"); err != nil {
			t.Fatal(err)
		}
		check(got)
	})
}

var urlSafe = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)

// FuzzSignatureToken: a confirmation link's token is taken only in the
// form NewSignatureToken makes (16 lower-case hex digits, the signature's
// id, then 32 URL-safe characters), and its id is read back exactly.
func FuzzSignatureToken(f *testing.F) {
	tok, id, _ := NewSignatureToken()
	if got, ok := parseSignatureToken(tok); !ok || got != id {
		f.Fatalf("parseSignatureToken(NewSignatureToken()) = %d, %v; want %d", got, ok, id)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, ok := parseSignatureToken(token)
		if !ok {
			if id != 0 {
				t.Errorf("%q: refused, with id %d", token, id)
			}
			return
		}
		if len(token) != 48 || !urlSafe.MatchString(token) {
			t.Errorf("%q: taken, but it is not 48 URL-safe characters", token)
		}
		if id < 0 || fmt.Sprintf("%016x", id) != token[:16] {
			t.Errorf("%q: id %d, which is not its first 16 characters in hex", token, id)
		}
		if url.PathEscape(token) != token {
			t.Errorf("%q: taken, but it does not go in a link as it is", token)
		}
	})
}

// FuzzValidToken: a session cookie's or an emailed link's token is taken
// only in the form NewToken makes: 43 URL-safe characters.
func FuzzValidToken(f *testing.F) {
	tok, _ := NewToken()
	if !validToken(tok) {
		f.Fatalf("validToken(NewToken()) = false for %q", tok)
	}
	f.Fuzz(func(t *testing.T, token string) {
		ok := validToken(token)
		want := len(token) == 43 && urlSafe.MatchString(token)
		if ok != want {
			t.Errorf("validToken(%q) = %v, want %v", token, ok, want)
		}
	})
}
