package main

import (
	"net/http"
	"testing"
)

// The memory limit follows the open connections in steps of an eighth,
// ignores a request's own state changes, comes back down when the
// connections close, and stops at its ceiling.
func TestMemoryBudgetFollowsConnections(t *testing.T) {
	var calls []int64
	m := newMemoryBudget(func(l int64) int64 { calls = append(calls, l); return 0 })
	const mb = 1 << 20
	if len(calls) != 1 || calls[0] != 40*mb {
		t.Fatalf("at start: calls %v, want one of 40 MB", calls)
	}
	open := func(n int) {
		for range n {
			m.track(nil, http.StateNew)
			m.track(nil, http.StateActive)
			m.track(nil, http.StateIdle)
		}
	}
	closeConns := func(n int) {
		for range n {
			m.track(nil, http.StateClosed)
		}
	}
	open(64)
	if len(calls) != 1 {
		t.Errorf("64 connections moved the limit: calls %v", calls)
	}
	open(936) // 1,000 open
	want := int64(40*mb + 1000*64<<10)
	last := calls[len(calls)-1]
	if last > want || last < want-want/8 {
		t.Errorf("1,000 connections: limit %d MB, want within an eighth below %d MB", last/mb, want/mb)
	}
	if len(calls) > 12 {
		t.Errorf("%d calls into the runtime for 1,000 connections, want a few steps", len(calls))
	}
	closeConns(1000)
	if last := calls[len(calls)-1]; last < 40*mb || last > 45*mb {
		t.Errorf("all closed: limit %d MB, want back near 40 MB", last/mb)
	}
	open(100_000)
	if last := calls[len(calls)-1]; last > 1<<30 || last < 1<<30-1<<30/8 {
		t.Errorf("100,000 connections: limit %d MB, want within an eighth below the 1 GiB ceiling", last/mb)
	}
}
