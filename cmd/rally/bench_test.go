package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// benchApp is a Rally with a published cause, as the hot-path benchmarks
// need, with the per-address limits off as for a load test.
func benchApp(b *testing.B) (*testApp, string) {
	b.Helper()
	ta := newTestAppTB(b, map[string]string{"RALLY_RATE_LIMITS": "off", "RALLY_MAIL_RATE": "0"})
	o, err := ta.accounts.AddOrganiser(context.Background(), "Bench", "bench@example.org", "a long enough password", false)
	if err != nil {
		b.Fatal(err)
	}
	c, err := ta.store.CreateCause(context.Background(), o.ID, causeInput("Benchmark cause"), "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ta.store.SetStatus(context.Background(), c.ID, "published"); err != nil {
		b.Fatal(err)
	}
	return ta, c.Slug
}

var benchSeq atomic.Int64

// BenchmarkSign measures the whole signing path through the router:
// validation, comparison key, token, the rendered mail queued, the group
// commit, and the "check your email" page.
func BenchmarkSign(b *testing.B) {
	ta, slug := benchApp(b)
	// Group commit needs requests in flight: 32 per core, as a load test's
	// 64 connections on two cores.
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := benchSeq.Add(1)
			body := fmt.Sprintf("name=Bench+Signer&email=b%d%%40example.org&country=FR&public=1", n)
			req := httptest.NewRequest("POST", "/c/"+slug+"/sign", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			ta.engine.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}

// BenchmarkCausePage measures the public cause page.
func BenchmarkCausePage(b *testing.B) {
	benchGET(b, func(slug string) string { return "/c/" + slug }, "Accept-Language", "en-GB,en;q=0.8")
}

// BenchmarkCauseJSON measures the public JSON.
func BenchmarkCauseJSON(b *testing.B) {
	benchGET(b, func(slug string) string { return "/c/" + slug + ".json" })
}

// benchGET measures GETs of the path made from the bench cause's slug.
func benchGET(b *testing.B, path func(slug string) string, headers ...string) {
	ta, slug := benchApp(b)
	url := path(slug)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", url, nil)
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			w := httptest.NewRecorder()
			ta.engine.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}
