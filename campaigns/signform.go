package campaigns

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// bodies are the buffers readSignForm reads bodies into.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// readSignForm reads the sign form. A urlencoded body, which is what
// browsers send, is read in one pass straight into the fields, without the
// maps and copies of net/http's ParseForm: at thousands of signings a
// second they are a good part of a signing's garbage. Anything else goes
// through ParseMultipartForm. Either way the first value of a field wins
// and a malformed body is an error.
func readSignForm(r *http.Request) (signForm, error) {
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded") {
		if err := r.ParseMultipartForm(64 << 10); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			return signForm{}, err
		}
		pf := r.PostForm
		return signForm{Name: pf.Get("name"), Email: pf.Get("email"), Country: pf.Get("country"),
			Postcode: pf.Get("postcode"), Comment: pf.Get("comment"), Public: pf.Get("public"), Updates: pf.Get("updates"),
			Ref: pf.Get("ref"), Website: pf.Get("website"), Source: pf.Get("source")}, nil
	}
	bp := bodies.Get().(*[]byte)
	defer bodies.Put(bp)
	body := (*bp)[:0]
	for {
		if len(body) == cap(body) {
			body = append(body, 0)[:len(body)]
		}
		n, err := r.Body.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*bp = body[:0]
			return signForm{}, err
		}
	}
	*bp = body[:0]
	var f signForm
	var seen uint16
	for len(body) > 0 {
		var pair []byte
		pair, body, _ = bytes.Cut(body, []byte{'&'})
		if len(pair) == 0 {
			continue
		}
		if bytes.IndexByte(pair, ';') >= 0 {
			return signForm{}, errors.New("invalid semicolon separator in form")
		}
		k, v, _ := bytes.Cut(pair, []byte{'='})
		i, ok := signFields[string(k)] // no copy for the lookup
		if !ok && (bytes.IndexByte(k, '%') >= 0 || bytes.IndexByte(k, '+') >= 0) {
			key, err := url.QueryUnescape(string(k))
			if err != nil {
				return signForm{}, err
			}
			i, ok = signFields[key]
		}
		var dst *string
		if ok {
			dst = f.field(i)
		}
		val, err := unescape(v)
		if err != nil {
			return signForm{}, err
		}
		if dst != nil && seen&(1<<i) == 0 {
			*dst, seen = val, seen|1<<i
		}
	}
	return f, nil
}

// signFields numbers the sign form's fields, in signForm's order.
var signFields = map[string]int{"name": 0, "email": 1, "country": 2, "postcode": 3, "comment": 4, "public": 5,
	"updates": 6, "ref": 7, "website": 8, "source": 9}

// field returns the field signFields numbers i.
func (f *signForm) field(i int) *string {
	return [...]*string{&f.Name, &f.Email, &f.Country, &f.Postcode, &f.Comment, &f.Public, &f.Updates, &f.Ref, &f.Website,
		&f.Source}[i]
}

// unescape decodes one urlencoded key or value.
func unescape(b []byte) (string, error) {
	if bytes.IndexByte(b, '%') < 0 && bytes.IndexByte(b, '+') < 0 {
		return string(b), nil
	}
	return url.QueryUnescape(string(b))
}
