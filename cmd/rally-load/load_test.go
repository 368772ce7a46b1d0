package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]uint32, 100)
	for i := range hundred {
		hundred[i] = uint32(i + 1) // 1..100
	}
	tests := []struct {
		name   string
		sorted []uint32
		p      float64
		want   uint32
	}{
		{"empty", nil, 50, 0},
		{"one value", []uint32{7}, 99, 7},
		{"p50 of 1..100", hundred, 50, 50},
		{"p95 of 1..100", hundred, 95, 95},
		{"p99 of 1..100", hundred, 99, 99},
		{"p100 is the max", hundred, 100, 100},
		{"p0 is the min", hundred, 0, 1},
		{"nearest rank rounds up", []uint32{10, 20, 30}, 50, 20},
		{"p99 of 3 is the max", []uint32{10, 20, 30}, 99, 30},
		{"p50 of 4 is the 2nd", []uint32{1, 2, 3, 4}, 50, 2},
		{"p51 of 4 is the 3rd", []uint32{1, 2, 3, 4}, 51, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %d, want %d", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tl := newTally()
	// 1000 latencies of 1..1000 µs, added out of order, and two failures.
	for i := 1000; i >= 1; i-- {
		tl.add(time.Duration(i)*time.Microsecond, "")
	}
	tl.add(time.Second, "HTTP 500")
	tl.add(time.Second, "timeout")
	s := tl.summarize(2 * time.Second)
	want := summary{Requests: 1002, OK: 1000, Errors: 2, PerSecond: 500,
		P50: 500 * time.Microsecond, P95: 950 * time.Microsecond, P99: 990 * time.Microsecond, Max: 1000 * time.Microsecond}
	if s != want {
		t.Errorf("summarize = %+v, want %+v", s, want)
	}
	if got, want := s.line("sign"), "sign: 500 req/s, p50 0.50 ms, p99 0.99 ms, errors 2, p95 0.95 ms, max 1.0 ms, ok 1000"; got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
}

func TestMS(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0.00 ms"},
		{420 * time.Microsecond, "0.42 ms"},
		{1800 * time.Microsecond, "1.8 ms"},
		{12_449 * time.Microsecond, "12.4 ms"},
		{2 * time.Second, "2000.0 ms"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			if got := ms(tt.d); got != tt.want {
				t.Errorf("ms(%s) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://127.0.0.1", true},
		{"https://127.1.2.3:9000/", true},
		{"http://localhost:8080", true},
		{"http://LOCALHOST:8080", true},
		{"http://[::1]:8080", true},
		{"http://[::ffff:127.0.0.1]:8080", true},
		{"http://0.0.0.0:8080", false},
		{"http://10.0.0.1:8080", false},
		{"http://128.0.0.1", false},
		{"http://example.org", false},
		{"http://localhost.example.org:8080", false},
		{"http://127.0.0.1.nip.io", false},
		{"http://[::2]:8080", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8080", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := checkLoopback(tt.url)
			if (err == nil) != tt.ok {
				t.Errorf("checkLoopback(%q) = %v, want ok=%v", tt.url, err, tt.ok)
			}
		})
	}
}

func TestParseOptionsRefusesRemoteTargets(t *testing.T) {
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"defaults", nil, true},
		{"list of scenarios", []string{"-scenario", "sign,page,json"}, true},
		{"remote url", []string{"-url", "http://192.0.2.1:8080"}, false},
		{"unknown scenario", []string{"-scenario", "sign,flood"}, false},
		{"confirm without the data folder", []string{"-scenario", "confirm"}, false},
		{"confirm with the data folder", []string{"-scenario", "confirm", "-data", "d"}, true},
		{"seed without -start", []string{"-seed", "10"}, false},
		{"seed a stopped server's folder", []string{"-seed", "10", "-data", "d"}, false},
		{"seed what -start starts", []string{"-start", "-seed", "10"}, true},
		{"zero duration", []string{"-duration", "0s"}, false},
		{"negative rate", []string{"-rate", "-1"}, false},
		{"no connections", []string{"-c", "0"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(tt.args, io.Discard)
			if (err == nil) != tt.ok {
				t.Errorf("parseOptions(%q) = %v, want ok=%v", tt.args, err, tt.ok)
			}
		})
	}
}

func TestSignerNumber(t *testing.T) {
	tests := []struct {
		run, email string
		want       int64
		ok         bool
	}{
		{"ab12", "load-ab12-0@load.example", 0, true},
		{"ab12", "load-ab12-12345@LOAD.example", 12345, true},
		{"ab12", "load-ab13-1@load.example", 0, false},
		{"ab12", "load-ab12-1@example.org", 0, false},
		{"ab12", "load-ab12-x@load.example", 0, false},
		{"ab12", "load-ab12--1@load.example", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			got, ok := signerNumber(tt.run, tt.email)
			if got != tt.want || ok != tt.ok {
				t.Errorf("signerNumber(%q, %q) = %d, %v; want %d, %v", tt.run, tt.email, got, ok, tt.want, tt.ok)
			}
		})
	}
	l := &loader{run: "ab12"}
	if n, ok := signerNumber(l.run, l.email(42)); !ok || n != 42 {
		t.Errorf("signerNumber(email(42)) = %d, %v; want 42, true", n, ok)
	}
}

func TestParseConfirmMail(t *testing.T) {
	const token = "187b4a2c9d0e1f20w74YxJnjQ-2EK5xHe43v_k-c6BYAUr_7"
	// The link is cut by soft line breaks and its = escaped, as the dev
	// outbox writes it.
	eml := "To: \"Ann Load\" <load-ab12-7@load.example>\r\nSubject: Confirm\r\n" +
		"Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"<a href=3D\"http://127.0.0.1:8080/confirm/187b4a2c9d0e1f20w74YxJnjQ-2EK5xHe43v_k-c=\r\n" +
		"6BYAUr_7\" style=3D\"x\">Confirm</a>\r\n"
	to, got, ok := parseConfirmMail([]byte(eml))
	if !ok || to != "load-ab12-7@load.example" || got != token {
		t.Errorf("parseConfirmMail = %q, %q, %v; want the address and %q", to, got, ok, token)
	}
	if _, _, ok := parseConfirmMail([]byte("To: a@b.example\r\n\r\nNo link here.\r\n")); ok {
		t.Errorf("parseConfirmMail found a link in a mail without one")
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\trally\nVmPeak:\t  900000 kB\nVmRSS:\t   76104 kB\nThreads:\t9\n"
	got, err := parseVmRSS([]byte(status))
	if err != nil || got != 76104*1024 {
		t.Errorf("parseVmRSS = %d, %v; want %d", got, err, 76104*1024)
	}
	if _, err := parseVmRSS([]byte("Name:\tkthreadd\n")); err == nil {
		t.Errorf("parseVmRSS without VmRSS: want an error")
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "connection refused"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "connection reset"},
		{io.ErrUnexpectedEOF, "connection closed"},
		{context.DeadlineExceeded, "timeout"},
		{fmt.Errorf("something odd"), "other: something odd"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := errorKind(tt.err); got != tt.want {
				t.Errorf("errorKind(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// fakeRally answers like Rally's public routes and remembers who signed.
type fakeRally struct {
	mu     sync.Mutex
	emails map[string]int
}

func (f *fakeRally) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/c/demo/sign":
		email := r.PostFormValue("email")
		f.mu.Lock()
		f.emails[email]++
		n := len(f.emails)
		f.mu.Unlock()
		if n%10 == 0 {
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "check your email")
	case r.Method == http.MethodGet && r.URL.Path == "/c/demo":
		io.WriteString(w, "<h1>cause</h1>")
	case r.Method == http.MethodGet && r.URL.Path == "/c/demo.json":
		io.WriteString(w, `{"signature_count":0}`)
	default:
		http.NotFound(w, r)
	}
}

func TestRunLoadFlatOutStopsAtMaxRequests(t *testing.T) {
	f := &fakeRally{emails: map[string]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	l := newLoader(srv.URL, "demo", 8, 5*time.Second, false)
	r := runLoad(context.Background(), loadOpts{Duration: time.Minute, Conc: 8, MaxRequests: 200}, l.sign)
	s := r.total().summarize(r.Elapsed)
	if s.Requests != 200 || s.OK != 180 || s.Errors != 20 {
		t.Errorf("requests, ok, errors = %d, %d, %d; want 200, 180, 20", s.Requests, s.OK, s.Errors)
	}
	if got := r.total().errs["HTTP 429"]; got != 20 {
		t.Errorf("errors by kind = %v, want 20 × HTTP 429", r.total().errs)
	}
	if len(r.Signed) != 180 {
		t.Errorf("acknowledged signings = %d, want 180", len(r.Signed))
	}
	if len(f.emails) != 200 {
		t.Errorf("distinct emails = %d, want 200 (one per signing)", len(f.emails))
	}
	for e, n := range f.emails {
		if n != 1 || !strings.HasSuffix(e, "@"+emailDomain) {
			t.Errorf("email %q signed %d times; want once, at %s", e, n, emailDomain)
		}
	}
}

func TestRunLoadFixedRateSendsThePlannedCount(t *testing.T) {
	f := &fakeRally{emails: map[string]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	l := newLoader(srv.URL, "demo", 4, 5*time.Second, false)
	// 200 a second for half a second is 100 requests due, whatever the
	// server's speed; each is either sent or counted as missed.
	r := runLoad(context.Background(), loadOpts{Duration: 500 * time.Millisecond, Rate: 200, Conc: 4, MaxRequests: 1000}, l.json)
	s := r.total().summarize(r.Elapsed)
	if s.Requests != 100 {
		t.Errorf("requests (sent + missed) = %d, want 100; errors %v", s.Requests, r.total().errs)
	}
}

func TestRunLoadConfirmsEachLinkOnce(t *testing.T) {
	var mu sync.Mutex
	posted := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, "/confirm/")
		if r.Method != http.MethodPost || !ok {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		posted[token]++
		mu.Unlock()
		io.WriteString(w, "thank you")
	}))
	defer srv.Close()
	l := newLoader(srv.URL, "demo", 8, 5*time.Second, false)
	for i := range 50 {
		l.links = append(l.links, link{N: int64(i), Token: fmt.Sprintf("token-%02d", i)})
	}
	r := runLoad(context.Background(), loadOpts{Duration: time.Minute, Conc: 8, MaxRequests: 1000}, l.confirm)
	if !r.Exhausted {
		t.Errorf("run did not stop when the links ran out")
	}
	if len(r.Confirmed) != 50 || len(posted) != 50 {
		t.Errorf("confirmed %d, server saw %d distinct links; want 50 and 50", len(r.Confirmed), len(posted))
	}
	for tok, n := range posted {
		if n != 1 {
			t.Errorf("%s posted %d times, want once", tok, n)
		}
	}
}
