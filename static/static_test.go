package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestAssetsAreFingerprintedAndCompressed(t *testing.T) {
	gin.SetMode(gin.TestMode)
	e := gin.New()
	e.GET(Prefix+"*file", Handler())
	url := URL("css/app.css")
	if !strings.HasPrefix(url, "/static/css/app.") || url == "/static/css/app.css" {
		t.Fatalf("URL(css/app.css) = %q, want a fingerprinted name", url)
	}
	want, _ := files.ReadFile("css/app.css")

	plain := httptest.NewRecorder()
	e.ServeHTTP(plain, httptest.NewRequest("GET", url, nil))
	if plain.Code != http.StatusOK || !bytes.Equal(plain.Body.Bytes(), want) || plain.Header().Get("Content-Encoding") != "" {
		t.Fatalf("plain GET: status %d, %d bytes, encoding %q", plain.Code, plain.Body.Len(), plain.Header().Get("Content-Encoding"))
	}
	if ct := plain.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := plain.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("Cache-Control = %q", cc)
	}

	req := httptest.NewRequest("GET", url, nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	gz := httptest.NewRecorder()
	e.ServeHTTP(gz, req)
	if gz.Header().Get("Content-Encoding") != "gzip" || gz.Body.Len() >= len(want) {
		t.Fatalf("gzip GET: encoding %q, %d bytes of %d", gz.Header().Get("Content-Encoding"), gz.Body.Len(), len(want))
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if !bytes.Equal(got, want) {
		t.Errorf("the gzip body does not decode to the stylesheet")
	}

	for _, bad := range []string{"/static/css/app.css", "/static/..%2fstatic.go", "/static/css/app.0000000000.css"} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", bad, nil))
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", bad, w.Code)
		}
	}
}
