package notify

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"
)

// What DNS says of one record the sending domain should publish.
const (
	recordOK       = "ok"       // published
	recordMissing  = "missing"  // the name has no such record
	recordUnknown  = "unknown"  // DNS could not be asked, or did not answer in time
	recordNoDKIM   = "off"      // Rally signs nothing: RALLY_DKIM_* is not set
	recordChecking = "checking" // the lookup is running; the page says so
)

// SenderDNS says whether the domain of Rally's sender publishes what Gmail,
// Yahoo and Outlook want of bulk mail: SPF, a DKIM key for the selector
// Rally signs with, and DMARC; and whether the DKIM domain aligns with the
// From address.
type SenderDNS struct {
	Domain      string
	DKIMDomain  string
	Selector    string
	SPF         string
	DKIM        string
	DMARC       string
	DKIMAligned bool
}

// dnsTimeout bounds each lookup.
const dnsTimeout = 3 * time.Second

// dnsCheck looks the records up in the background and keeps what it found
// for an hour (five minutes when DNS could not say).
type dnsCheck struct {
	res Resolver
	now func() time.Time

	mu      sync.Mutex
	results map[SenderDNS]dnsResult
	running map[SenderDNS]bool
}

type dnsResult struct {
	SenderDNS
	at time.Time
}

func newDNSCheck(res Resolver, now func() time.Time) *dnsCheck {
	return &dnsCheck{res: res, now: now, results: map[SenderDNS]dnsResult{}, running: map[SenderDNS]bool{}}
}

// status returns what is known of the records of domain (and of the DKIM
// key at selector._domainkey.dkimDomain), starting a lookup if nothing
// recent is: until it ends, the records read "checking".
func (d *dnsCheck) status(domain, dkimDomain, selector string) SenderDNS {
	key := SenderDNS{Domain: strings.ToLower(domain), DKIMDomain: strings.ToLower(dkimDomain), Selector: selector}
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.results[key]
	ttl := time.Hour
	if ok && (r.SPF == recordUnknown || r.DKIM == recordUnknown || r.DMARC == recordUnknown) {
		ttl = 5 * time.Minute
	}
	if ok && d.now().Sub(r.at) < ttl {
		return r.SenderDNS
	}
	if !d.running[key] {
		d.running[key] = true
		go d.lookup(key)
	}
	if ok {
		return r.SenderDNS
	}
	out := key
	out.SPF, out.DKIM, out.DMARC = recordChecking, recordChecking, recordChecking
	out.DKIMAligned = aligned(key.DKIMDomain, key.Domain)
	return out
}

// wait blocks until no lookup runs, for tests.
func (d *dnsCheck) wait() {
	for {
		d.mu.Lock()
		n := len(d.running)
		d.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (d *dnsCheck) lookup(key SenderDNS) {
	out := key
	out.DKIMAligned = aligned(key.DKIMDomain, key.Domain)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		out.SPF = d.find(key.Domain, "v=spf1")
	}()
	go func() {
		defer wg.Done()
		out.DMARC = d.find("_dmarc."+key.Domain, "v=DMARC1")
	}()
	go func() {
		defer wg.Done()
		if key.Selector == "" || key.DKIMDomain == "" {
			out.DKIM = recordNoDKIM
			return
		}
		out.DKIM = d.find(key.Selector+"._domainkey."+key.DKIMDomain, "p=")
	}()
	wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.results[key] = dnsResult{SenderDNS: out, at: d.now()}
	delete(d.running, key)
}

// find looks for a TXT record at name that starts with prefix (for a DKIM
// key, that holds it).
func (d *dnsCheck) find(name, prefix string) string {
	if name == "" || strings.HasPrefix(name, ".") || !strings.Contains(strings.Trim(name, "."), ".") || reservedName(name) {
		return recordMissing
	}
	ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
	defer cancel()
	txts, err := d.res.LookupTXT(ctx, name)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return recordMissing
		}
		return recordUnknown
	}
	for _, t := range txts {
		t = strings.TrimSpace(t)
		if prefix == "p=" {
			if strings.Contains(t, "p=") && !strings.Contains(strings.ReplaceAll(t, " ", ""), "p=;") && !strings.HasSuffix(strings.ReplaceAll(t, " ", ""), "p=") {
				return recordOK
			}
			continue
		}
		if len(t) >= len(prefix) && strings.EqualFold(t[:len(prefix)], prefix) {
			return recordOK
		}
	}
	return recordMissing
}

// reservedName reports whether name is under a top-level name that DNS
// never has (RFC 2606, 6761): localhost, test, invalid, example, local.
// Nothing is asked for those: a fresh start's sender is rally@localhost.
func reservedName(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	tld := name[strings.LastIndexByte(name, '.')+1:]
	switch tld {
	case "localhost", "test", "invalid", "example", "local":
		return true
	}
	return false
}

// aligned reports whether a DKIM domain aligns with the From domain in
// DMARC's relaxed mode: the same, or one a subdomain of the other.
func aligned(dkimDomain, from string) bool {
	if dkimDomain == "" || from == "" {
		return false
	}
	return dkimDomain == from || strings.HasSuffix(from, "."+dkimDomain) || strings.HasSuffix(dkimDomain, "."+from)
}
