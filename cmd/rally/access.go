package main

import (
	"crypto/subtle"
	"net"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/notify"
)

// Who may read the operations pages: the dev outbox (its mails hold
// confirmation links) and the metrics. Anyone else gets 404, so a stranger
// does not even learn that they exist.

// trustsLoopbackProxy reports whether any of the trusted proxies (IPs or
// CIDR ranges, as parseProxies accepts them) is, or contains, a loopback
// address. Then a reverse proxy runs on this machine, and a request from
// loopback may be anyone's on the internet.
func trustsLoopbackProxy(proxies []string) bool {
	// A range overlaps a loopback range when it contains that range's first
	// address or starts inside it.
	loopbacks := []*net.IPNet{
		{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
		{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		{IP: net.ParseIP("::ffff:127.0.0.0"), Mask: net.CIDRMask(104, 128)},
	}
	for _, p := range proxies {
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			ip := net.ParseIP(p)
			if ip == nil {
				continue // parseProxies refused it already
			}
			if ip.IsLoopback() {
				return true
			}
			continue
		}
		for _, l := range loopbacks {
			if n.Contains(l.IP) || l.Contains(n.IP) {
				return true
			}
		}
	}
	return false
}

// localRequest reports whether a request may count as made on this
// machine: its connection comes from loopback, it names no other client in
// a forwarding header, and no reverse proxy on this machine is trusted
// (behind one every request arrives from loopback).
func localRequest(proxyOnLoopback bool) func(*gin.Context) bool {
	return func(c *gin.Context) bool {
		return !proxyOnLoopback && notify.LoopbackOnly(c)
	}
}

// devMailAccess admits a signed-in admin, or a local request (see
// localRequest), to the dev outbox; anyone else gets 404.
func devMailAccess(cfg config) gin.HandlerFunc {
	local := localRequest(trustsLoopbackProxy(cfg.TrustedProxies))
	return func(c *gin.Context) {
		if o, ok := campaigns.CurrentOrganiser(c); (ok && o.Admin) || local(c) {
			c.Next()
			return
		}
		c.AbortWithStatus(http.StatusNotFound)
	}
}

// metricsHandler serves Prometheus metrics to a local request (see
// localRequest), or to one carrying "Authorization: Bearer <token>" when
// RALLY_METRICS_TOKEN is set; anyone else gets 404.
func metricsHandler(cfg config) gin.HandlerFunc {
	local := localRequest(trustsLoopbackProxy(cfg.TrustedProxies))
	token := []byte(strings.TrimSpace(cfg.MetricsToken))
	serve := gin.WrapH(promhttp.Handler())
	return func(c *gin.Context) {
		if local(c) || (len(token) > 0 && bearerMatches(c.GetHeader("Authorization"), token)) {
			c.Header("Cache-Control", "no-store")
			serve(c)
			return
		}
		c.AbortWithStatus(http.StatusNotFound)
	}
}

// bearerMatches compares an Authorization header's bearer token with want
// in constant time.
func bearerMatches(header string, want []byte) bool {
	scheme, got, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) == 1
}
