package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// tally is what one worker saw of one kind of request. Latencies of
// successful requests are kept exactly, in microseconds: the run is bounded
// by -max-requests, so the slice is too (4 bytes a request).
type tally struct {
	lat  []uint32
	ok   int64
	errs map[string]int64
}

func newTally() *tally { return &tally{errs: map[string]int64{}} }

func (t *tally) add(lat time.Duration, kind string) {
	if kind != "" {
		t.errs[kind]++
		return
	}
	t.ok++
	us := lat.Microseconds()
	if us < 0 {
		us = 0
	}
	if us > math.MaxUint32 {
		us = math.MaxUint32
	}
	t.lat = append(t.lat, uint32(us))
}

func (t *tally) merge(o *tally) {
	t.lat = append(t.lat, o.lat...)
	t.ok += o.ok
	for k, v := range o.errs {
		t.errs[k] += v
	}
}

func (t *tally) errorCount() int64 {
	var n int64
	for _, v := range t.errs {
		n += v
	}
	return n
}

// summary is a tally reduced to the figures printed.
type summary struct {
	Requests, OK, Errors int64
	PerSecond            float64 // successful requests per second
	P50, P95, P99, Max   time.Duration
}

func (t *tally) summarize(elapsed time.Duration) summary {
	slices.Sort(t.lat)
	s := summary{OK: t.ok, Errors: t.errorCount()}
	s.Requests = s.OK + s.Errors
	if elapsed > 0 {
		s.PerSecond = float64(s.OK) / elapsed.Seconds()
	}
	us := func(v uint32) time.Duration { return time.Duration(v) * time.Microsecond }
	s.P50 = us(percentile(t.lat, 50))
	s.P95 = us(percentile(t.lat, 95))
	s.P99 = us(percentile(t.lat, 99))
	if len(t.lat) > 0 {
		s.Max = us(t.lat[len(t.lat)-1])
	}
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted values:
// the smallest value with at least p% of the values at or below it.
func percentile(sorted []uint32, p float64) uint32 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// ms formats a latency in milliseconds: two decimals below 1 ms, one above.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if v < 1 {
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
}

// line is the one-line result of a scenario.
func (s summary) line(name string) string {
	return fmt.Sprintf("%s: %.0f req/s, p50 %s, p99 %s, errors %d, p95 %s, max %s, ok %d",
		name, s.PerSecond, ms(s.P50), ms(s.P99), s.Errors, ms(s.P95), ms(s.Max), s.OK)
}

// errorKind names why a request failed, in few enough words that kinds can
// be counted: "HTTP 500", "timeout", "connection refused", …
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no free local port"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if len(msg) > 60 {
		msg = msg[:60] + "…"
	}
	return "other: " + msg
}

// statusKind names an unexpected HTTP status.
func statusKind(code int) string { return "HTTP " + strconv.Itoa(code) }

// sortedKinds returns the error kinds, most frequent first.
func sortedKinds(errs map[string]int64) []string {
	kinds := make([]string, 0, len(errs))
	for k := range errs {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if errs[kinds[i]] != errs[kinds[j]] {
			return errs[kinds[i]] > errs[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	return kinds
}

// mib formats a byte count in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// plural returns "1 thing" or "2 things".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// trimZero drops a trailing ".0" from a formatted number.
func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }
