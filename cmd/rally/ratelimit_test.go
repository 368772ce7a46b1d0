package main

import (
	"fmt"
	"net/http"
	"testing"
)

// TestRateLimitsPerClient: one address can sign 20 times at once (then 30
// a minute), and what it sends past that is refused with 429 and kept
// nowhere; others are not slowed. A client cannot pick its address with a
// header unless the connection comes from a proxy named in
// RALLY_TRUSTED_PROXIES.
func TestRateLimitsPerClient(t *testing.T) {
	sign := func(ta *testApp, slug string, n int, forwardedFor string) resp {
		return ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm("Ada", fmt.Sprintf("limit%d-%s@example.org", n, forwardedFor)),
			"X-Forwarded-For", forwardedFor)
	}

	t.Run("no proxy trusted", func(t *testing.T) {
		ta := newTestApp(t, nil)
		org, _ := ta.organiser("Org", "org@example.org", false)
		slug := ta.publishedCause(org, "Limits")
		for i := range 20 {
			if r := sign(ta, slug, i, "203.0.113.1"); r.status != http.StatusOK {
				t.Fatalf("signing %d: status %d", i+1, r.status)
			}
		}
		r := sign(ta, slug, 20, "203.0.113.1")
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "60" {
			t.Fatalf("21st signing: status %d, Retry-After %q; want 429, 60", r.status, r.header.Get("Retry-After"))
		}
		// The header names another client, but nothing vouches for it: the
		// connection's address is still the one at its limit.
		if r := sign(ta, slug, 21, "203.0.113.2"); r.status != http.StatusTooManyRequests {
			t.Errorf("forged X-Forwarded-For: status %d, want 429", r.status)
		}
		if n := ta.count(`SELECT count(*) FROM signatures`); n != 20 {
			t.Errorf("%d signatures kept, want the 20 answered with 200", n)
		}
	})

	t.Run("behind a trusted proxy", func(t *testing.T) {
		// The test server listens on loopback, as a proxy on the same host would reach Rally.
		ta := newTestApp(t, map[string]string{"RALLY_TRUSTED_PROXIES": "127.0.0.1,::1"})
		org, _ := ta.organiser("Org", "org@example.org", false)
		slug := ta.publishedCause(org, "Limits")
		for i := range 20 {
			if r := sign(ta, slug, i, "203.0.113.1"); r.status != http.StatusOK {
				t.Fatalf("signing %d: status %d", i+1, r.status)
			}
		}
		if r := sign(ta, slug, 20, "203.0.113.1"); r.status != http.StatusTooManyRequests {
			t.Errorf("21st signing from one client: status %d, want 429", r.status)
		}
		// Another client behind the same proxy has its own allowance.
		if r := sign(ta, slug, 21, "203.0.113.2"); r.status != http.StatusOK {
			t.Errorf("another client behind the proxy: status %d, want 200", r.status)
		}
		if n := ta.count(`SELECT count(*) FROM signatures`); n != 21 {
			t.Errorf("%d signatures kept, want 21", n)
		}
	})
}
