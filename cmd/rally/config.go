package main

import (
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// config is Rally's configuration: environment variables, overridden by flags
// of the same name (RALLY_BASE_URL → --base-url).
type config struct {
	Addr       string
	Data       string
	BaseURL    string
	SMTPURL    string
	MailFrom   string
	Currency   string
	MailRate   float64
	SMTPConns  int // parallel SMTP connections of the mail worker
	Sync       string
	RateLimits bool
	// TrustedProxies are the addresses (IPs or CIDR ranges) of reverse
	// proxies whose X-Forwarded-For says who the client is. Empty: the
	// connection's address is the client's.
	TrustedProxies []string
	StripeSecret   string
	StripeWebhook  string
	StripeAPIBase  string
	LogLevel       string
	// MetricsToken, when set, lets a scraper read /metrics from anywhere
	// with "Authorization: Bearer <token>".
	MetricsToken string
	// ContactEmail is the data controller's address, on the privacy page.
	ContactEmail string
	// Secret keys signed links (tracked clicks, unsubscribing); empty:
	// generated once into the data folder (see loadSecret).
	Secret string
	// RetentionDays is how long after a cause closes its signers are
	// anonymised.
	RetentionDays int
	// HoldPerNetwork and HoldPerDomain are how many signings of one cause
	// an hour one client network, and one email domain, may make before
	// further ones are held for review; 0: no limit. RateLimits off lifts
	// them too.
	HoldPerNetwork, HoldPerDomain int
	// DKIM signs every mail when all three are set.
	DKIMDomain, DKIMSelector, DKIMKeyFile string
	// BlastDailyCap is how many recipients an organiser may send blasts
	// to in 24 hours, unless an admin sets another figure for them.
	BlastDailyCap int64
}

// setting describes one configuration value.
type setting struct {
	env, def, usage string
	dst             *string
}

func (c *config) settings() []setting {
	return []setting{
		{"RALLY_ADDR", ":8080", "listen address", &c.Addr},
		{"RALLY_DATA", "./rally-data", "folder for rally.db, mail/ and uploads", &c.Data},
		{"RALLY_BASE_URL", "http://localhost:8080", "absolute base URL for links in emails and share URLs", &c.BaseURL},
		{"RALLY_SMTP_URL", "", "smtp://user:pass@host:587 (STARTTLS) or smtps://… (implicit TLS); empty: dev outbox", &c.SMTPURL},
		{"RALLY_MAIL_FROM", "Rally <rally@localhost>", "sender of every email", &c.MailFrom},
		{"RALLY_CURRENCY", "eur", "donation currency (ISO 4217, lower case)", &c.Currency},
		{"STRIPE_SECRET_KEY", "", "Stripe secret key; empty: donations off", &c.StripeSecret},
		{"STRIPE_WEBHOOK_SECRET", "", "Stripe webhook signing secret", &c.StripeWebhook},
		{"STRIPE_API_BASE", "", "another Stripe API base, e.g. stripe-mock", &c.StripeAPIBase},
		{"RALLY_LOG_LEVEL", "info", "log level: debug, info, warn, error", &c.LogLevel},
		{"RALLY_METRICS_TOKEN", "", "bearer token that lets a scraper read /metrics from anywhere; empty: loopback only, with no proxy", &c.MetricsToken},
		{"RALLY_CONTACT_EMAIL", "", "the data controller's contact address, shown on the privacy page", &c.ContactEmail},
		{"RALLY_SECRET", "", "key for signed links (tracked clicks, unsubscribing); empty: generated once into RALLY_DATA/secret", &c.Secret},
		{"RALLY_DKIM_DOMAIN", "", "domain every mail is DKIM-signed for (with RALLY_DKIM_SELECTOR and RALLY_DKIM_KEY_FILE); empty: no DKIM", &c.DKIMDomain},
		{"RALLY_DKIM_SELECTOR", "", "DKIM selector: the public key is published at SELECTOR._domainkey.DOMAIN", &c.DKIMSelector},
		{"RALLY_DKIM_KEY_FILE", "", "PEM file of the DKIM private key (RSA 2048, or Ed25519)", &c.DKIMKeyFile},
	}
}

// flagName turns RALLY_BASE_URL into base-url and STRIPE_SECRET_KEY into
// stripe-secret-key.
func flagName(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "RALLY_")), "_", "-")
}

// parseConfig reads the environment, then the flags in args.
func parseConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (config, error) {
	var c config
	for _, s := range c.settings() {
		v := getenv(s.env)
		if v == "" {
			v = s.def
		}
		fs.StringVar(s.dst, flagName(s.env), v, s.usage+" ("+s.env+")")
	}
	rate := envOr(getenv, "RALLY_MAIL_RATE", "50")
	sync := envOr(getenv, "RALLY_SYNC", "full")
	limits := envOr(getenv, "RALLY_RATE_LIMITS", "on")
	proxies := getenv("RALLY_TRUSTED_PROXIES")
	conns := envOr(getenv, "RALLY_SMTP_CONNS", "1")
	retention := envOr(getenv, "RALLY_RETENTION_DAYS", "180")
	holdNet := envOr(getenv, "RALLY_HOLD_PER_NETWORK", "200")
	holdDomain := envOr(getenv, "RALLY_HOLD_PER_DOMAIN", "500")
	fs.StringVar(&retention, "retention-days", retention, "days after a cause closes before its signers are anonymised (RALLY_RETENTION_DAYS)")
	fs.StringVar(&holdNet, "hold-per-network", holdNet,
		"signings of one cause an hour from one network (IPv4 /24, IPv6 /64) before further ones are held for review; 0: no limit (RALLY_HOLD_PER_NETWORK)")
	fs.StringVar(&holdDomain, "hold-per-domain", holdDomain,
		"signings of one cause an hour with one email domain (large mailbox providers aside) before further ones are held for review; 0: no limit (RALLY_HOLD_PER_DOMAIN)")
	blastCap := envOr(getenv, "RALLY_BLAST_DAILY_CAP", "10000")
	fs.StringVar(&blastCap, "blast-daily-cap", blastCap, "recipients an organiser may send blasts to in 24 hours; an admin can change it per organiser (RALLY_BLAST_DAILY_CAP)")
	fs.StringVar(&conns, "smtp-conns", conns, "parallel SMTP connections of the mail worker, each reused across messages (RALLY_SMTP_CONNS)")
	fs.StringVar(&rate, "mail-rate", rate, "messages per second the outbox worker sends; 0 = no limit (RALLY_MAIL_RATE)")
	fs.StringVar(&sync, "sync", sync, "SQLite synchronous: full or normal (RALLY_SYNC)")
	fs.StringVar(&limits, "rate-limits", limits, "on, or off to lift per-IP limits for load tests (RALLY_RATE_LIMITS)")
	fs.StringVar(&proxies, "trusted-proxies", proxies,
		"addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client, comma-separated; empty: none (RALLY_TRUSTED_PROXIES)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.MailRate, err = strconv.ParseFloat(rate, 64); err != nil || c.MailRate < 0 {
		return c, fmt.Errorf("RALLY_MAIL_RATE %q: want a number ≥ 0", rate)
	}
	if c.SMTPConns, err = strconv.Atoi(strings.TrimSpace(conns)); err != nil || c.SMTPConns < 1 || c.SMTPConns > 64 {
		return c, fmt.Errorf("RALLY_SMTP_CONNS %q: want a whole number from 1 to 64", conns)
	}
	if c.RetentionDays, err = strconv.Atoi(strings.TrimSpace(retention)); err != nil || c.RetentionDays < 1 {
		return c, fmt.Errorf("RALLY_RETENTION_DAYS %q: want a whole number of days, 1 or more", retention)
	}
	if c.HoldPerNetwork, err = strconv.Atoi(strings.TrimSpace(holdNet)); err != nil || c.HoldPerNetwork < 0 {
		return c, fmt.Errorf("RALLY_HOLD_PER_NETWORK %q: want a whole number ≥ 0", holdNet)
	}
	if c.HoldPerDomain, err = strconv.Atoi(strings.TrimSpace(holdDomain)); err != nil || c.HoldPerDomain < 0 {
		return c, fmt.Errorf("RALLY_HOLD_PER_DOMAIN %q: want a whole number ≥ 0", holdDomain)
	}
	if c.BlastDailyCap, err = strconv.ParseInt(strings.TrimSpace(blastCap), 10, 64); err != nil || c.BlastDailyCap < 0 {
		return c, fmt.Errorf("RALLY_BLAST_DAILY_CAP %q: want a whole number ≥ 0", blastCap)
	}
	if n := countSet(c.DKIMDomain, c.DKIMSelector, c.DKIMKeyFile); n != 0 && n != 3 {
		return c, fmt.Errorf("DKIM: set all of RALLY_DKIM_DOMAIN, RALLY_DKIM_SELECTOR and RALLY_DKIM_KEY_FILE, or none")
	}
	switch c.Sync = strings.ToLower(sync); c.Sync {
	case "full", "normal":
	default:
		return c, fmt.Errorf("RALLY_SYNC %q: want full or normal", sync)
	}
	switch strings.ToLower(limits) {
	case "on", "1", "true", "yes":
		c.RateLimits = true
	case "off", "0", "false", "no":
	default:
		return c, fmt.Errorf("RALLY_RATE_LIMITS %q: want on or off", limits)
	}
	if c.TrustedProxies, err = parseProxies(proxies); err != nil {
		return c, err
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("RALLY_BASE_URL %q: want an absolute http(s) URL", c.BaseURL)
	}
	c.Currency = strings.ToLower(strings.TrimSpace(c.Currency))
	if c.ContactEmail = strings.TrimSpace(c.ContactEmail); c.ContactEmail != "" {
		if a, err := mail.ParseAddress(c.ContactEmail); err != nil || a.Name != "" || a.Address != c.ContactEmail {
			return c, fmt.Errorf("RALLY_CONTACT_EMAIL %q: want an email address, such as privacy@example.org", c.ContactEmail)
		}
	}
	return c, nil
}

// parseProxies reads a comma- or space-separated list of IP addresses and
// CIDR ranges.
func parseProxies(list string) ([]string, error) {
	var out []string
	for _, p := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		// As Gin reads them (net.ParseCIDR, else net.ParseIP).
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return nil, fmt.Errorf("RALLY_TRUSTED_PROXIES %q: want IP addresses or CIDR ranges, such as 127.0.0.1 or 10.0.0.0/8", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// countSet counts the non-empty values.
func countSet(values ...string) int {
	n := 0
	for _, v := range values {
		if v != "" {
			n++
		}
	}
	return n
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

// secure reports whether cookies must be Secure: the site is served over https.
func (c config) secure() bool { return strings.HasPrefix(c.BaseURL, "https://") }

func (c config) host() string {
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return "localhost"
	}
	return u.Hostname()
}
