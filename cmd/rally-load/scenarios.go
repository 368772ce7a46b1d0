package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// scenarios lists what the tool can run, in the order of -scenario's help.
var scenarios = []string{"sign", "confirm", "page", "json", "mix"}

// emailDomain is where the tool's signers live: a reserved name that no
// mail can reach.
const emailDomain = "load.example"

// loader sends the requests of every scenario to one Rally.
type loader struct {
	base   string // http://127.0.0.1:PORT
	slug   string
	run    string // this run's id, in every email address it signs with
	client *http.Client

	seq      atomic.Int64 // the next signing's number
	acks     atomic.Int64 // signings acknowledged so far
	inFlight atomic.Int64 // requests sent and not yet answered

	links    []link
	nextLink atomic.Int64
}

// newLoader returns a loader with one keep-alive transport of conc
// connections. Responses are not decompressed unless compress is set.
func newLoader(base, slug string, conc int, timeout time.Duration, compress bool) *loader {
	tr := &http.Transport{
		Proxy:               nil, // loopback only: never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		MaxConnsPerHost:     conc,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  !compress,
	}
	return &loader{
		base: strings.TrimRight(base, "/"),
		slug: slug,
		run:  newRunID(),
		client: &http.Client{Transport: tr, Timeout: timeout,
			// A 303 after signing is the success itself: never follow it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// newRunID returns 8 random hex digits.
func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// email returns the address of the run's n-th signer.
func (l *loader) email(n int64) string {
	return "load-" + l.run + "-" + strconv.FormatInt(n, 10) + "@" + emailDomain
}

// signerNumber returns n for an address of this run's n-th signer.
func signerNumber(run, email string) (int64, bool) {
	local, ok := strings.CutSuffix(strings.ToLower(email), "@"+emailDomain)
	if !ok {
		return 0, false
	}
	num, ok := strings.CutPrefix(local, "load-"+run+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 63)
	if err != nil {
		return 0, false
	}
	return int64(n), true
}

// do sends req and reads the whole answer. It returns "" when the status
// is one of ok, else the kind of failure.
func (l *loader) do(req *http.Request, ok ...int) string {
	l.inFlight.Add(1)
	resp, err := l.client.Do(req)
	if err != nil {
		l.inFlight.Add(-1)
		if req.Context().Err() != nil {
			return kindCanceled
		}
		return errorKind(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	l.inFlight.Add(-1)
	if err != nil {
		if req.Context().Err() != nil {
			return kindCanceled
		}
		return errorKind(err)
	}
	for _, c := range ok {
		if resp.StatusCode == c {
			return ""
		}
	}
	return statusKind(resp.StatusCode)
}

var countries = []string{"FR", "GB", "DE", "BE", "ES", "IT", "NL", "IE", "CA", "US"}

// sign signs the cause as a new person: a unique address per request.
func (l *loader) sign(ctx context.Context, w *worker, start time.Time) bool {
	n := l.seq.Add(1) - 1
	form := url.Values{
		"name":    {"Load Signer " + strconv.FormatInt(n, 10)},
		"email":   {l.email(n)},
		"country": {countries[n%int64(len(countries))]},
		"public":  {"1"},
		"updates": {"1"},
		"website": {""},
	}
	if n%4 == 0 {
		form.Set("postcode", "75011")
	}
	if n%10 == 0 {
		form.Set("comment", "Our children deserve clean air on their way to school.")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/c/"+l.slug+"/sign", strings.NewReader(form.Encode()))
	if err != nil {
		w.observe("sign", start, errorKind(err))
		return true
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	kind := l.do(req, http.StatusOK, http.StatusSeeOther)
	w.observe("sign", start, kind)
	if kind == "" {
		w.signed = append(w.signed, n)
		l.acks.Add(1)
	}
	return true
}

// confirm posts the next unused confirmation link; each link is posted once.
func (l *loader) confirm(ctx context.Context, w *worker, start time.Time) bool {
	i := l.nextLink.Add(1) - 1
	if i >= int64(len(l.links)) {
		return false
	}
	lk := l.links[i]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/confirm/"+lk.Token, http.NoBody)
	if err != nil {
		w.observe("confirm", start, errorKind(err))
		return true
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	kind := l.do(req, http.StatusOK, http.StatusSeeOther)
	w.observe("confirm", start, kind)
	if kind == "" {
		w.confirmed = append(w.confirmed, lk.N)
	}
	return true
}

// page reads the cause page.
func (l *loader) page(ctx context.Context, w *worker, start time.Time) bool {
	l.get(ctx, w, start, "page", "/c/"+l.slug)
	return true
}

// json reads the cause's public JSON.
func (l *loader) json(ctx context.Context, w *worker, start time.Time) bool {
	l.get(ctx, w, start, "json", "/c/"+l.slug+".json")
	return true
}

func (l *loader) get(ctx context.Context, w *worker, start time.Time, op, path string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+path, nil)
	if err != nil {
		w.observe(op, start, errorKind(err))
		return
	}
	w.observe(op, start, l.do(req, http.StatusOK))
}

// mix is a cause going viral: most visitors read the page, some sign, a
// few widgets poll the JSON.
func (l *loader) mix(ctx context.Context, w *worker, start time.Time) bool {
	switch r := w.rng.IntN(100); {
	case r < 70:
		return l.page(ctx, w, start)
	case r < 90:
		return l.sign(ctx, w, start)
	default:
		return l.json(ctx, w, start)
	}
}

// step returns the step function of a scenario.
func (l *loader) step(scenario string) (stepFunc, error) {
	switch scenario {
	case "sign":
		return l.sign, nil
	case "confirm":
		return l.confirm, nil
	case "page":
		return l.page, nil
	case "json":
		return l.json, nil
	case "mix":
		return l.mix, nil
	}
	return nil, fmt.Errorf("unknown scenario %q (want %s)", scenario, strings.Join(scenarios, ", "))
}
