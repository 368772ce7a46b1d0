package main

import (
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// ipLimiter keeps one token bucket per client address. It bounds what one
// address can post (signings, logins) without slowing anyone else.
// RALLY_RATE_LIMITS=off lifts it, for load tests from loopback.
type ipLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	buckets map[string]*bucket
	last    time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(perMinute float64, burst int) *ipLimiter {
	return &ipLimiter{every: rate.Limit(perMinute / 60), burst: burst, buckets: map[string]*bucket{}, last: time.Now()}
}

func (l *ipLimiter) allow(ip string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	// Forget addresses idle for ten minutes, at most once a minute.
	if now.Sub(l.last) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.last = now
	}
	key := clientKey(ip)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// clientKey names the bucket of a client address: an IPv4 address (also
// written as IPv4-mapped IPv6) is its own; an IPv6 address shares the
// bucket of its /64, since one subscriber commonly holds a whole /64 and
// could otherwise take a fresh bucket for every request.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// rateLimits returns the per-address limit for each rate-limited POST route,
// keyed by its Gin route pattern.
func rateLimits() map[string]*ipLimiter {
	return map[string]*ipLimiter{
		"/c/:slug/sign":   newIPLimiter(30, 20),
		"/c/:slug/donate": newIPLimiter(20, 10),
		"/confirm/:token": newIPLimiter(60, 30),
		"/login":          newIPLimiter(10, 10),
		"/signup":         newIPLimiter(5, 5),

		// Each sends a mail (when the address has an account).
		"/login/link":      newIPLimiter(5, 5),
		"/password/forgot": newIPLimiter(5, 5),
		"/privacy/request": newIPLimiter(5, 5),

		// A person reading the reasons for signing gives a few hearts; a
		// script gives thousands (each is a write).
		"/c/:slug/comments/:id/heart": newIPLimiter(30, 30),

		// A report is read by a person: a few an hour from one address.
		"/c/:slug/report": newIPLimiter(0.2, 5),

		// Each may carry an image of up to 5 MB; people write a cause in a
		// few saves, not hundreds.
		"/campaigns/new":        newIPLimiter(20, 10),
		"/campaigns/:slug/edit": newIPLimiter(20, 10),
	}
}

// limitPosts applies rateLimits to POSTs by their matched route.
func limitPosts(on bool) gin.HandlerFunc {
	limits := rateLimits()
	return func(c *gin.Context) {
		if !on || c.Request.Method != http.MethodPost {
			c.Next()
			return
		}
		if l, ok := limits[c.FullPath()]; ok && !l.allow(c.ClientIP()) {
			c.Header("Retry-After", "60")
			c.AbortWithStatus(http.StatusTooManyRequests)
			return
		}
		c.Next()
	}
}
