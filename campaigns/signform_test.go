package campaigns

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadSignForm(t *testing.T) {
	post := func(body string) (signForm, error) {
		r := httptest.NewRequest(http.MethodPost, "/c/x/sign", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
		return readSignForm(r)
	}
	f, err := post("name=Zo%C3%AB+O%27Brien&email=zoe%40example.org&name=second&country=fr&public=1&unknown=%41" +
		"&comment=a%26b%3Dc%0Anew+line&%77ebsite=bot&&ref=")
	if err != nil {
		t.Fatal(err)
	}
	want := signForm{Name: "Zoë O'Brien", Email: "zoe@example.org", Country: "fr", Public: "1", Comment: "a&b=c\nnew line",
		Website: "bot"}
	if f != want {
		t.Errorf("form = %+v\nwant   %+v", f, want)
	}
	// What ParseForm refuses is refused: a bad escape, a semicolon.
	for _, body := range []string{"name=%zz", "name=a;email=b", "%zz=1"} {
		if _, err := post(body); err == nil {
			t.Errorf("%q: no error", body)
		}
	}
	// A long body is read whole, past the first buffer.
	long := strings.Repeat("x", 10000)
	if f, err := post("comment=" + long + "&name=Ada"); err != nil || f.Comment != long || f.Name != "Ada" {
		t.Errorf("long body: name %q, comment of %d bytes, %v", f.Name, len(f.Comment), err)
	}
	// Multipart forms go through net/http.
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("name", "Ada")
	mw.WriteField("email", "ada@example.org")
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, "/c/x/sign", &b)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	if f, err := readSignForm(r); err != nil || f.Name != "Ada" || f.Email != "ada@example.org" {
		t.Errorf("multipart: %+v, %v", f, err)
	}
}
