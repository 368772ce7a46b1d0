package campaigns

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/rallyhq/rally/notify"
)

// Password guessing is bounded where the guesser is, not where the account
// is: counting failures per address alone let anyone lock an organiser out
// by failing ten times with their address. So:
//   - per address and client network, loginPairMaxFailures failures within
//     loginWindow refuse further tries from that network for that address;
//   - per client network, loginNetMaxFailures failures (any addresses)
//     refuse that network's tries;
//   - per address, from everywhere, past loginAddrSlowAfter failures every
//     try waits a little longer, up to loginAddrMaxDelay, and is still
//     checked: a guesser spread over many networks is slowed, the owner is
//     never refused. The emailed sign-in link always works.
//
// A client network is its IPv4 address, or its IPv6 /64 (one household or
// phone gets a whole /64, so counting single IPv6 addresses would count
// nothing).
const (
	loginWindow          = 15 * time.Minute
	loginPairMaxFailures = 10
	loginNetMaxFailures  = 50
	loginAddrSlowAfter   = 20
	loginAddrDelayStep   = 250 * time.Millisecond
	loginAddrMaxDelay    = 3 * time.Second
)

// loginGuard holds the three counts described above.
type loginGuard struct {
	pairs *loginThrottle // address key + "\x00" + network
	nets  *loginThrottle // network
	addrs *loginThrottle // address key
}

func newLoginGuard() *loginGuard {
	addrMax := loginAddrSlowAfter + int(loginAddrMaxDelay/loginAddrDelayStep)
	return &loginGuard{
		pairs: newLoginThrottle(loginPairMaxFailures, loginWindow),
		nets:  newLoginThrottle(loginNetMaxFailures, loginWindow),
		addrs: newLoginThrottle(addrMax, loginWindow),
	}
}

// check says whether a login for the address key addr from network may be
// tried now, and if so after how long a wait. An empty addr (no address at
// all) is counted against the network only.
func (g *loginGuard) check(addr, network string, now time.Time) (refused bool, wait time.Duration) {
	if g.nets.count(network, now) >= loginNetMaxFailures {
		return true, 0
	}
	if addr == "" {
		return false, 0
	}
	if g.pairs.count(addr+"\x00"+network, now) >= loginPairMaxFailures {
		return true, 0
	}
	if n := g.addrs.count(addr, now); n >= loginAddrSlowAfter {
		wait = min(loginAddrMaxDelay, time.Duration(n-loginAddrSlowAfter+1)*loginAddrDelayStep)
	}
	return false, wait
}

// failed counts a failed login.
func (g *loginGuard) failed(addr, network string, now time.Time) {
	g.nets.fail(network, now)
	if addr != "" {
		g.pairs.fail(addr+"\x00"+network, now)
		g.addrs.fail(addr, now)
	}
}

// succeeded forgets the failures of this address from this network. The
// network's and the address's own counts stay: logging in to one's own
// account must not buy a guesser more tries at others.
func (g *loginGuard) succeeded(addr, network string) {
	if addr != "" {
		g.pairs.reset(addr + "\x00" + network)
	}
}

// clientNetwork returns what failed logins from ip are counted under.
func clientNetwork(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}

// throttleKey is what failed logins for an address are counted under: its
// email key, or "" when it is no address at all, since no account can
// match it.
func throttleKey(email string) string {
	norm, err := notify.NormalizeEmail(email)
	if err != nil {
		return ""
	}
	return notify.EmailKey(norm)
}

// sleepCtx waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loginThrottle counts recent failures per key. It lives in memory: a
// restart forgets the counts, and each process counts its own, which is
// enough to stop guessing at any useful rate.
type loginThrottle struct {
	mu       sync.Mutex
	failures map[string][]time.Time // oldest first, at most max
	max      int
	window   time.Duration
	// The map is swept of idle keys when it grows past sweepAt, which
	// doubles with what remains so sweeps stay rare; never below minSweep.
	sweepAt, minSweep int
}

func newLoginThrottle(max int, window time.Duration) *loginThrottle {
	return &loginThrottle{failures: map[string][]time.Time{}, max: max, window: window, sweepAt: 10000, minSweep: 10000}
}

// recent returns key's failures within the window before now, forgetting
// older ones. The caller holds mu.
func (t *loginThrottle) recent(key string, now time.Time) []time.Time {
	fs := t.failures[key]
	cutoff := now.Add(-t.window)
	i := 0
	for i < len(fs) && !fs[i].After(cutoff) {
		i++
	}
	if i == len(fs) {
		delete(t.failures, key)
		return nil
	}
	if i > 0 {
		fs = fs[i:]
		t.failures[key] = fs
	}
	return fs
}

// count returns how many failures key has within the window (at most max).
func (t *loginThrottle) count(key string, now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.recent(key, now))
}

func (t *loginThrottle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fs := append(t.recent(key, now), now)
	if len(fs) > t.max {
		fs = fs[len(fs)-t.max:]
	}
	t.failures[key] = fs
	// Forget idle keys now and then, so guesses at many addresses cannot
	// grow the map without bound.
	if len(t.failures) > t.sweepAt {
		for k := range t.failures {
			t.recent(k, now)
		}
		t.sweepAt = max(t.minSweep, 2*len(t.failures))
	}
}

func (t *loginThrottle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, key)
}
