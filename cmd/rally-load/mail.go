package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// link is a confirmation link mailed to the run's n-th signer.
type link struct {
	N     int64
	Token string
}

// confirmPath matches a confirmation link's token in a decoded mail body.
var confirmPath = regexp.MustCompile(`/confirm/([0-9a-f]{16}[A-Za-z0-9_-]{32})`)

// qpUndo undoes what quoted-printable does to a URL: soft line breaks and
// the escaped equals sign.
var qpUndo = strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=")

// parseConfirmMail returns the recipient's address and the confirmation
// token of a dev outbox .eml file; ok is false for any other mail.
func parseConfirmMail(raw []byte) (to, token string, ok bool) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", "", false
	}
	addr, err := mail.ParseAddress(msg.Header.Get("To"))
	if err != nil {
		return "", "", false
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return "", "", false
	}
	m := confirmPath.FindSubmatch([]byte(qpUndo.Replace(string(body))))
	if m == nil {
		return "", "", false
	}
	return addr.Address, string(m[1]), true
}

// emlTimeLayout is how the dev outbox names its files: the UTC time it
// wrote them, so names sort by time.
const emlTimeLayout = "20060102T150405.000000000Z"

// linkCollector reads the run's confirmation links from a dev outbox
// folder, each file once.
type linkCollector struct {
	dir   string
	run   string
	after string // skip files named before this (written before the run)
	seen  map[string]bool
	got   map[int64]string
}

func newLinkCollector(mailDir, run string, since time.Time) *linkCollector {
	return &linkCollector{dir: mailDir, run: run, after: since.Add(-time.Minute).UTC().Format(emlTimeLayout),
		seen: map[string]bool{}, got: map[int64]string{}}
}

// scan reads the files not yet seen and returns how many links it has.
func (c *linkCollector) scan() (int, error) {
	entries, err := os.ReadDir(c.dir)
	if err != nil && !os.IsNotExist(err) {
		return len(c.got), err
	}
	for _, e := range entries {
		name := e.Name()
		if c.seen[name] || !strings.HasSuffix(name, ".eml") || strings.HasPrefix(name, ".") || name < c.after {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(c.dir, name))
		if err != nil {
			continue // renamed or removed under us: the next scan sees it
		}
		c.seen[name] = true
		to, token, ok := parseConfirmMail(raw)
		if !ok {
			continue
		}
		if n, ok := signerNumber(c.run, to); ok {
			// A second mail to the same signer (a retry) carries the same
			// link; keep one so each is confirmed once.
			c.got[n] = token
		}
	}
	return len(c.got), nil
}

// links returns what was collected.
func (c *linkCollector) links() []link {
	out := make([]link, 0, len(c.got))
	for n, t := range c.got {
		out = append(out, link{N: n, Token: t})
	}
	return out
}

// waitLinks collects confirmation links until want have arrived, or none
// has arrived for idle, or ctx ends.
func waitLinks(ctx context.Context, c *linkCollector, want int, idle time.Duration) ([]link, error) {
	last, lastChange := -1, time.Now()
	for {
		n, err := c.scan()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", c.dir, err)
		}
		if n >= want {
			return c.links(), nil
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if time.Since(lastChange) > idle {
			return c.links(), nil
		}
		select {
		case <-ctx.Done():
			return c.links(), ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
