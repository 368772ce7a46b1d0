package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// sessionCookie returns the Cookie header of a logged-in client.
func (ta *testApp) sessionCookie(c *http.Client) string {
	ta.t.Helper()
	var cookie string
	for _, k := range c.Jar.Cookies(mustURL(ta.t, ta.srv.URL)) {
		cookie += k.Name + "=" + k.Value + "; "
	}
	if cookie == "" {
		ta.t.Fatal("the client holds no cookie")
	}
	return cookie
}

// serve sends one request straight to the engine, as if its connection
// came from remote (host:port), with header name/value pairs.
func (ta *testApp) serve(method, target, remote string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	ta.engine.ServeHTTP(rec, req)
	return rec
}

type accessCase struct {
	name    string
	remote  string
	headers []string
	want    int
}

// TestDevMailAccess: the dev outbox holds confirmation links. It opens to
// an admin from anywhere, and to a request made on this machine: straight
// from loopback, with no proxy in between. Behind a reverse proxy on the
// same machine every request comes from loopback, so there loopback alone
// opens nothing. Anyone refused gets 404, as if it did not exist.
func TestDevMailAccess(t *testing.T) {
	const stranger = "203.0.113.9:40000"
	setup := func(t *testing.T, env map[string]string) (*testApp, string, string, string) {
		ta := newTestApp(t, env)
		org, _ := ta.organiser("Olive", "olive@example.org", false)
		admin, _ := ta.organiser("Ada Admin", "admin@example.org", true)
		slug := ta.publishedCause(org, "Read my mail")
		if r := ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm("Ada", "ada@example.org")); r.status != http.StatusOK {
			t.Fatalf("sign: status %d", r.status)
		}
		if ta.lastMailTo("ada@example.org") == "" {
			t.Fatal("no confirmation mail in the dev outbox")
		}
		names, _ := filepath.Glob(filepath.Join(ta.mailDir, "*.eml"))
		if len(names) != 1 {
			t.Fatalf("%d mails in the dev outbox, want the confirmation", len(names))
		}
		return ta, ta.sessionCookie(org), ta.sessionCookie(admin), filepath.Base(names[0])
	}
	check := func(t *testing.T, ta *testApp, tests []accessCase, eml string) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := ta.serve("GET", "/dev/mail", tt.remote, tt.headers...)
				if rec.Code != tt.want {
					t.Fatalf("GET /dev/mail: status %d, want %d", rec.Code, tt.want)
				}
				if got := strings.Contains(rec.Body.String(), "ada@example.org"); got != (tt.want == http.StatusOK) {
					t.Errorf("GET /dev/mail lists the signer's mail: %v, want %v", got, !got)
				}
				for _, sub := range []string{"", "/html", "/raw"} {
					if rec := ta.serve("GET", "/dev/mail/"+eml+sub, tt.remote, tt.headers...); rec.Code != tt.want {
						t.Errorf("GET /dev/mail/%s%s: status %d, want %d", eml, sub, rec.Code, tt.want)
					}
				}
			})
		}
	}

	t.Run("no proxy", func(t *testing.T) {
		ta, org, admin, eml := setup(t, nil)
		check(t, ta, []accessCase{
			{"direct from IPv4 loopback", "127.0.0.1:40000", nil, http.StatusOK},
			{"direct from IPv6 loopback", "[::1]:40000", nil, http.StatusOK},
			{"loopback naming a client in X-Forwarded-For", "127.0.0.1:40000", []string{"X-Forwarded-For", "198.51.100.7"}, http.StatusNotFound},
			{"loopback naming a client in X-Real-IP", "127.0.0.1:40000", []string{"X-Real-IP", "198.51.100.7"}, http.StatusNotFound},
			{"loopback naming a client in Forwarded", "[::1]:40000", []string{"Forwarded", "for=198.51.100.7"}, http.StatusNotFound},
			{"stranger", stranger, nil, http.StatusNotFound},
			{"stranger claiming loopback", stranger, []string{"X-Forwarded-For", "127.0.0.1", "X-Real-IP", "127.0.0.1"}, http.StatusNotFound},
			{"organiser who is not an admin, from afar", stranger, []string{"Cookie", org}, http.StatusNotFound},
			{"admin from afar", stranger, []string{"Cookie", admin}, http.StatusOK},
		}, eml)
	})

	for _, proxies := range []string{"127.0.0.1", "::1", "10.0.0.0/8, 127.0.0.0/8"} {
		t.Run("proxy on this machine: "+proxies, func(t *testing.T) {
			ta, org, admin, eml := setup(t, map[string]string{"RALLY_TRUSTED_PROXIES": proxies})
			check(t, ta, []accessCase{
				{"loopback without forwarding headers", "127.0.0.1:40000", nil, http.StatusNotFound},
				{"IPv6 loopback without forwarding headers", "[::1]:40000", nil, http.StatusNotFound},
				{"through the proxy", "127.0.0.1:40000", []string{"X-Forwarded-For", "198.51.100.7"}, http.StatusNotFound},
				{"through the proxy, claiming loopback", "127.0.0.1:40000", []string{"X-Forwarded-For", "127.0.0.1"}, http.StatusNotFound},
				{"organiser through the proxy", "127.0.0.1:40000", []string{"X-Forwarded-For", "198.51.100.7", "Cookie", org}, http.StatusNotFound},
				{"admin through the proxy", "127.0.0.1:40000", []string{"X-Forwarded-For", "198.51.100.7", "Cookie", admin}, http.StatusOK},
			}, eml)
		})
	}

	t.Run("proxy elsewhere", func(t *testing.T) {
		ta, _, _, eml := setup(t, map[string]string{"RALLY_TRUSTED_PROXIES": "10.0.0.2"})
		check(t, ta, []accessCase{
			{"direct from loopback", "127.0.0.1:40000", nil, http.StatusOK},
			{"through the proxy", "10.0.0.2:40000", []string{"X-Forwarded-For", "198.51.100.7"}, http.StatusNotFound},
			{"through the proxy, claiming loopback", "10.0.0.2:40000", []string{"X-Forwarded-For", "127.0.0.1"}, http.StatusNotFound},
		}, eml)
	})
}

// TestMetricsAccess: /metrics follows the dev outbox's loopback rule, and
// with RALLY_METRICS_TOKEN set also answers a scraper that presents it.
// Anyone else gets 404.
func TestMetricsAccess(t *testing.T) {
	const stranger = "203.0.113.9:40000"
	check := func(t *testing.T, ta *testApp, tests []accessCase) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := ta.serve("GET", "/metrics", tt.remote, tt.headers...)
				if rec.Code != tt.want {
					t.Fatalf("status %d, want %d", rec.Code, tt.want)
				}
				if got := strings.Contains(rec.Body.String(), "rally_confirmations_total"); got != (tt.want == http.StatusOK) {
					t.Errorf("the body shows Rally's counters: %v, want %v", got, !got)
				}
			})
		}
	}

	t.Run("no token", func(t *testing.T) {
		ta := newTestApp(t, nil)
		admin, _ := ta.organiser("Ada Admin", "admin@example.org", true)
		check(t, ta, []accessCase{
			{"direct from loopback", "127.0.0.1:40000", nil, http.StatusOK},
			{"direct from IPv6 loopback", "[::1]:40000", nil, http.StatusOK},
			{"loopback naming a client", "127.0.0.1:40000", []string{"X-Forwarded-For", "198.51.100.7"}, http.StatusNotFound},
			{"stranger", stranger, nil, http.StatusNotFound},
			{"stranger with a made-up token", stranger, []string{"Authorization", "Bearer "}, http.StatusNotFound},
			{"stranger with an admin's session", stranger, []string{"Cookie", ta.sessionCookie(admin)}, http.StatusNotFound},
		})
	})

	t.Run("token, proxy on this machine", func(t *testing.T) {
		ta := newTestApp(t, map[string]string{"RALLY_METRICS_TOKEN": "s3cret-scrape-token", "RALLY_TRUSTED_PROXIES": "127.0.0.1"})
		check(t, ta, []accessCase{
			{"loopback without the token", "127.0.0.1:40000", nil, http.StatusNotFound},
			{"through the proxy without the token", "127.0.0.1:40000", []string{"X-Forwarded-For", "198.51.100.7"}, http.StatusNotFound},
			{"through the proxy with the token", "127.0.0.1:40000", []string{"X-Forwarded-For", "198.51.100.7", "Authorization", "Bearer s3cret-scrape-token"}, http.StatusOK},
			{"from afar with the token", stranger, []string{"Authorization", "Bearer s3cret-scrape-token"}, http.StatusOK},
			{"scheme in lower case", stranger, []string{"Authorization", "bearer s3cret-scrape-token"}, http.StatusOK},
			{"wrong token", stranger, []string{"Authorization", "Bearer s3cret-scrape-tokeN"}, http.StatusNotFound},
			{"token's prefix", stranger, []string{"Authorization", "Bearer s3cret"}, http.StatusNotFound},
			{"token as Basic credentials", stranger, []string{"Authorization", "Basic s3cret-scrape-token"}, http.StatusNotFound},
			{"bare token", stranger, []string{"Authorization", "s3cret-scrape-token"}, http.StatusNotFound},
		})
	})
}

func TestTrustsLoopbackProxy(t *testing.T) {
	tests := []struct {
		proxies string
		want    bool
	}{
		{"", false},
		{"10.0.0.2", false},
		{"10.0.0.0/8, 192.168.1.10, 2001:db8::/32, fe80::/10", false},
		{"127.0.0.1", true},
		{"127.0.1.1", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"10.0.0.2, 127.0.0.0/8", true},
		{"127.42.0.0/16", true},
		{"64.0.0.0/2", true},
		{"0.0.0.0/0", true},
		{"::/0", true},
		{"::/127", true},
		{"::ffff:0:0/96", true},
	}
	for _, tt := range tests {
		list, err := parseProxies(tt.proxies)
		if err != nil {
			t.Fatal(err)
		}
		if got := trustsLoopbackProxy(list); got != tt.want {
			t.Errorf("trustsLoopbackProxy(%q) = %v, want %v", tt.proxies, got, tt.want)
		}
	}
}
