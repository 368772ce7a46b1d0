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

// TestRateLimitsKeyIPv6ByPrefix: one subscriber commonly holds a whole IPv6
// /64, so every address in it draws on one allowance; another /64 has its
// own. IPv4 addresses are their own, however they are written.
func TestRateLimitsKeyIPv6ByPrefix(t *testing.T) {
	l := newIPLimiter(1, 1) // one request, then one a minute
	steps := []struct {
		ip   string
		want bool
	}{
		{"2001:db8:1:2::a", true},
		{"2001:db8:1:2::b", false},                  // same /64
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", false}, // same /64
		{"2001:db8:1:3::a", true},                   // the next /64
		{"2001:db8:1:3::a", false},
		{"203.0.113.1", true},
		{"::ffff:203.0.113.1", false}, // the same IPv4 address
		{"203.0.113.2", true},         // IPv4 neighbours are strangers
		{"fe80::1%eth0", true},
		{"fe80::2%eth1", false},
	}
	for _, s := range steps {
		if got := l.allow(s.ip); got != s.want {
			t.Errorf("allow(%s) = %v, want %v", s.ip, got, s.want)
		}
	}

	// Through the router: behind a trusted proxy, twenty signings from
	// one /64 use its allowance, whichever addresses they come from.
	ta := newTestApp(t, map[string]string{"RALLY_TRUSTED_PROXIES": "127.0.0.1,::1"})
	org, _ := ta.organiser("Org", "org@example.org", false)
	slug := ta.publishedCause(org, "Limits")
	sign := func(n int, ip string) int {
		return ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm("Ada", fmt.Sprintf("v6-%d@example.org", n)), "X-Forwarded-For", ip).status
	}
	for i := range 20 {
		if code := sign(i, fmt.Sprintf("2001:db8:5:6::%x", i+1)); code != http.StatusOK {
			t.Fatalf("signing %d: status %d", i+1, code)
		}
	}
	if code := sign(20, "2001:db8:5:6:abcd::1"); code != http.StatusTooManyRequests {
		t.Errorf("21st signing from the same /64: status %d, want 429", code)
	}
	if code := sign(21, "2001:db8:5:7::1"); code != http.StatusOK {
		t.Errorf("a signing from another /64: status %d, want 200", code)
	}
}

// TestProxyCannotPassOnXRealIP: behind a trusted proxy only X-Forwarded-For
// names the client. A proxy that passes a client's own X-Real-IP along
// must not let that client choose its address, and so its rate limit.
func TestProxyCannotPassOnXRealIP(t *testing.T) {
	ta := newTestApp(t, map[string]string{"RALLY_TRUSTED_PROXIES": "127.0.0.1,::1"})
	org, _ := ta.organiser("Org", "org@example.org", false)
	slug := ta.publishedCause(org, "Limits")
	sign := func(n int, realIP string) int {
		return ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm("Ada", fmt.Sprintf("real%d@example.org", n)), "X-Real-IP", realIP).status
	}
	// Each signing claims another address: all come from the proxy, which
	// named no client, so they share the proxy's allowance of 20.
	for i := range 20 {
		if code := sign(i, fmt.Sprintf("1.2.3.%d", i+1)); code != http.StatusOK {
			t.Fatalf("signing %d: status %d", i+1, code)
		}
	}
	if code := sign(20, "1.2.3.4"); code != http.StatusTooManyRequests {
		t.Errorf("21st signing naming itself 1.2.3.4 in X-Real-IP: status %d, want 429 (its address is the proxy's)", code)
	}
}

// TestRateLimitsOrganiserSaves: saving a cause (which may carry an image of
// up to 5 MB) is limited per client like signing, so no account, confirmed
// or not, can post images without end.
func TestRateLimitsOrganiserSaves(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Org", "org@example.org", false)
	slug := ta.publishedCause(org, "Limits")
	for i := range 10 {
		if r := ta.do(org, "POST", "/campaigns/"+slug+"/edit", nil); r.status == http.StatusTooManyRequests {
			t.Fatalf("save %d refused: the first ten go through", i+1)
		}
	}
	if r := ta.do(org, "POST", "/campaigns/"+slug+"/edit", nil); r.status != http.StatusTooManyRequests {
		t.Errorf("11th save at once: status %d, want 429", r.status)
	}
	if r := ta.do(org, "POST", "/campaigns/new", nil); r.status == http.StatusTooManyRequests {
		t.Errorf("creating a cause shares no allowance with editing: status %d", r.status)
	}
}

// A client gives at most a burst of hearts, then about one every two
// seconds, whatever reasons they are for.
func TestRateLimitsHearts(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Org", "org@example.org", false)
	slug := ta.publishedCause(org, "Limits")
	visitor := ta.client()
	for i := range 30 {
		if r := ta.do(visitor, "POST", fmt.Sprintf("/c/%s/comments/%d/heart", slug, 1000+i), nil); r.status != http.StatusNotFound {
			t.Fatalf("heart %d for a reason that is not there: status %d, want 404", i+1, r.status)
		}
	}
	if r := ta.do(visitor, "POST", fmt.Sprintf("/c/%s/comments/%d/heart", slug, 2000), nil); r.status != http.StatusTooManyRequests {
		t.Errorf("31st heart: status %d, want 429", r.status)
	}
}
