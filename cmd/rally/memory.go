package main

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// memoryBudget sets Go's soft memory limit from the connections Rally has
// open: a base for Rally itself plus a share for each connection, which
// holds a goroutine's stack, its buffers and a request's data in flight.
//
// A fixed limit low enough to keep the process small at ordinary loads
// starves a surge. With 1,000 clients signing at once, a 40 MB limit sat
// below what the connections alone hold; the collector then ran without
// pause (596 collections in 10 s, up to half the CPU by Go's own cap) and
// signing fell from about 22,000/s to 6,800/s with a p99 of 268 ms. Growing
// the limit with the connections, the same surge signs at 24,700/s with a
// p99 of 79 ms in 133 MB. The limit moves in steps of an eighth, so 64
// connections stay at the 40 MB the README's figures were measured with.
type memoryBudget struct {
	base, perConn, most int64
	set                 func(int64) int64 // debug.SetMemoryLimit

	conns atomic.Int64
	last  atomic.Int64 // the limit set last

	mu sync.Mutex // orders the calls to set
}

func newMemoryBudget(set func(int64) int64) *memoryBudget {
	m := &memoryBudget{base: 40 << 20, perConn: 64 << 10, most: 1 << 30, set: set}
	m.apply()
	return m
}

// limit is the limit for n open connections.
func (m *memoryBudget) limit(n int64) int64 {
	return min(m.base+max(n, 0)*m.perConn, m.most)
}

// track is the server's ConnState hook. It is called on every request's
// state changes, so those return at once; a new or closed connection moves
// the limit only once the count has moved it by an eighth, so a steady
// churn of short connections does not call into the runtime.
func (m *memoryBudget) track(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		m.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		m.conns.Add(-1)
	default:
		return
	}
	want, last := m.limit(m.conns.Load()), m.last.Load()
	if diff := want - last; diff > last/8 || -diff > last/8 {
		m.apply()
	}
}

// apply sets the limit for the connections open now.
func (m *memoryBudget) apply() {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := m.limit(m.conns.Load())
	m.set(want)
	m.last.Store(want)
}
