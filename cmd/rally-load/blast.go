package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"
)

// blastSink is an SMTP server on loopback that takes every message and
// counts what each recipient received.
type blastSink struct {
	Addr string
	srv  *smtp.Server

	total atomic.Int64  // messages
	blast atomic.Int64  // messages to the seeded signers: the blast's, not signing's confirmations
	bytes atomic.Int64  // of the blast's messages
	delay time.Duration // before answering each message's end, standing for a relay's work

	mu      sync.Mutex
	perRcpt map[string]int
}

func startBlastSink(delay time.Duration) (*blastSink, error) {
	return listenBlastSink("127.0.0.1:0", delay)
}

// listenBlastSink starts the sink on addr.
func listenBlastSink(addr string, delay time.Duration) (*blastSink, error) {
	s := &blastSink{perRcpt: map[string]int{}, delay: delay}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	s.srv.MaxRecipients = 10
	// A killed Rally resets its connections: not worth a line each.
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.Addr = l.Addr().String()
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// URL is the sink as RALLY_SMTP_URL.
func (s *blastSink) URL() string { return "smtp://" + s.Addr + "?tls=none" }

func (s *blastSink) Close() error { return s.srv.Close() }

// Received returns how many messages each recipient got.
func (s *blastSink) Received() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.perRcpt))
	for k, v := range s.perRcpt {
		out[k] = v
	}
	return out
}

type sinkSession struct {
	s  *blastSink
	to []string
}

func (x *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (x *sinkSession) Data(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	if x.s.delay > 0 {
		time.Sleep(x.s.delay)
	}
	x.s.mu.Lock()
	for _, to := range x.to {
		x.s.perRcpt[to]++
	}
	x.s.mu.Unlock()
	x.s.total.Add(1)
	if len(x.to) > 0 && strings.HasPrefix(x.to[0], "seed-") {
		x.s.blast.Add(1)
		x.s.bytes.Add(n)
	}
	return nil
}
func (x *sinkSession) Reset()        { x.to = x.to[:0] }
func (x *sinkSession) Logout() error { return nil }

// blastAdmin is the admin the blast runs sign in as.
const (
	blastAdminEmail    = "load-admin@rally.localhost"
	blastAdminPassword = "a load-test password"
)

// prepareBlast makes a data folder for a blast: the database, an admin,
// the demo cause and n confirmed signers who asked for news (addresses at
// example.invalid, which the sink takes like any other).
func prepareBlast(ctx context.Context, bin, data string, n int) error {
	if err := migrateData(ctx, bin, data); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "organiser", "add", "--email", blastAdminEmail, "--name", "Load Admin", "--admin", "--data", data)
	cmd.Env = append(serverEnv(), "RALLY_PASSWORD="+blastAdminPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rally organiser add: %w\n%s", err, out)
	}
	// rally seed adds the demo cause to the new database, then the signers.
	return rallyCommand(ctx, bin, os.Stderr, "seed", "--signatures", strconv.Itoa(n), "--batch", "20000",
		"--cause", demoSlug, "--data", data, "--log-level", "warn")
}

// blastClient is the admin's browser, reduced to what a blast needs.
type blastClient struct {
	base string
	c    *http.Client
}

func newBlastClient(base string) *blastClient {
	jar, _ := cookiejar.New(nil)
	return &blastClient{base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *blastClient) post(ctx context.Context, path string, form url.Values) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("Location"), nil
}

// write logs in and writes a blast to the cause's signers; it returns the
// blast's page.
func (b *blastClient) write(ctx context.Context, slug string) (string, error) {
	if code, _, err := b.post(ctx, "/login", url.Values{"email": {blastAdminEmail}, "password": {blastAdminPassword}}); err != nil || code != http.StatusSeeOther {
		return "", fmt.Errorf("log in: status %d, %v", code, err)
	}
	code, path, err := b.post(ctx, "/campaigns/"+slug+"/blasts", url.Values{
		"subject": {"{first_name|Friend}, the council votes on Monday"},
		"body": {"The council votes on the school streets on **Monday at 18:00**.\n\n" +
			"Two thousand children walk to the four schools of the Rue des Tilleuls every morning. " +
			"Write to your councillor before the vote: it takes two minutes, and it is what they read.\n\n" +
			"- [Read the plan](https://example.org/plan)\n- [Who votes how](https://example.org/votes)"},
		"cta_label": {"Write to my councillor"}, "cta_url": {"https://example.org/write"}})
	if err != nil || code != http.StatusSeeOther {
		return "", fmt.Errorf("save the blast: status %d, %v", code, err)
	}
	return path, nil
}

// send sends the blast at path now.
func (b *blastClient) send(ctx context.Context, path string) error {
	if code, _, err := b.post(ctx, path+"/send", url.Values{}); err != nil || code != http.StatusSeeOther {
		return fmt.Errorf("send the blast: status %d, %v", code, err)
	}
	return nil
}

// blastStatus is the blast's JSON.
type blastStatus struct {
	Status     string `json:"status"`
	Recipients int64  `json:"recipients"`
	Queued     int64  `json:"queued"`
	Sent       int64  `json:"sent"`
	Failed     int64  `json:"failed"`
}

func (b *blastClient) status(ctx context.Context, path string) (blastStatus, error) {
	var s blastStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+path+".json", nil)
	if err != nil {
		return s, err
	}
	res, err := b.c.Do(req)
	if err != nil {
		return s, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET %s.json: status %d", path, res.StatusCode)
	}
	return s, json.NewDecoder(res.Body).Decode(&s)
}

// waitSent polls the blast until it is sent.
func (b *blastClient) waitSent(ctx context.Context, path string, timeout time.Duration) (blastStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		s, err := b.status(ctx, path)
		if err == nil && s.Status == "sent" {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("the blast is not sent after %s (%+v, %v)", timeout, s, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// goMailCeiling sends n messages of about size bytes into addr from conns
// plain go-mail clients, each on one connection reused for all its
// messages (go-mail's defaults otherwise), and returns how long it took:
// the most a sender on this machine gets out of this sink.
func goMailCeiling(ctx context.Context, addr string, conns, n, size int) (time.Duration, error) {
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	filler := strings.Repeat("Two thousand children walk to school along the Rue des Tilleuls. ", max(size/2/64, 1))
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	start := time.Now()
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := gomail.NewClient(host, gomail.WithPort(port), gomail.WithTLSPolicy(gomail.NoTLS))
			if err == nil {
				err = c.DialWithContext(ctx)
			}
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := range next {
				m := gomail.NewMsg()
				if err := m.From("Load Admin via Rally <rally@example.org>"); err != nil {
					errs <- err
					return
				}
				if err := m.To(fmt.Sprintf("ceiling-%d@example.invalid", i)); err != nil {
					errs <- err
					return
				}
				m.Subject("The council votes on Monday")
				m.SetBodyString(gomail.TypeTextPlain, filler)
				m.AddAlternativeString(gomail.TypeTextHTML, "<p>"+filler+"</p>")
				if err := c.Send(m); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// blastOnly runs -blast: a blast of o.Blast recipients from a started Rally
// into a local SMTP sink with no rate limit, then the go-mail ceiling with
// the same connections into the same sink, and prints both.
func blastOnly(ctx context.Context, o options, stdout io.Writer) (err error) {
	tmp, err := os.MkdirTemp("", "rally-blast-*")
	if err != nil {
		return err
	}
	defer func() {
		if !o.Keep {
			_ = os.RemoveAll(tmp)
		} else {
			fmt.Fprintln(stdout, "kept", tmp)
		}
	}()
	bin := o.RallyBin
	if bin == "" {
		fmt.Fprintln(stdout, "building ./cmd/rally…")
		if bin, err = buildRally(ctx, tmp); err != nil {
			return err
		}
	}
	data := o.Data
	if data == "" {
		data = filepath.Join(tmp, "data")
	}
	sink, err := startBlastSink(0)
	if err != nil {
		return err
	}
	defer sink.Close()
	begin := time.Now()
	fmt.Fprintf(stdout, "preparing %d signers in %s…\n", o.Blast, data)
	if err := prepareBlast(ctx, bin, data, o.Blast); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "prepared %d signers in %s\n", o.Blast, time.Since(begin).Round(time.Millisecond))
	srv, err := startRally(ctx, serverConfig{Bin: bin, Data: data, Sync: o.Sync, MailRate: "0", SMTPURL: sink.URL(),
		SMTPConns: strconv.Itoa(o.SMTPConns), PprofAddr: o.Pprof})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Kill() }()
	rss := sampleRSS(srv.PID(), 50*time.Millisecond)
	c := newBlastClient(srv.URL())

	var alone *result
	if o.BlastSign {
		// Signing alone first, on the same server and sink, as the yardstick
		// for signing during the blast; its confirmations are delivered
		// before the blast starts, or the blast would wait behind them.
		fmt.Fprintf(stdout, "signing alone for %s with %d connections…\n", o.Duration, o.Conc)
		l := newLoader(srv.URL(), demoSlug, o.Conc, o.Timeout, false)
		alone = runLoad(ctx, loadOpts{Duration: o.Duration, Conc: o.Conc, Rate: o.Rate, MaxRequests: o.MaxRequests}, l.sign)
		mailed := time.Now()
		if err := waitConfirmations(ctx, sink, l.acks.Load(), 5*time.Minute); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  its %d confirmations delivered %s after it ended\n", l.acks.Load(), time.Since(mailed).Round(time.Millisecond))
	}

	path, err := c.write(ctx, demoSlug)
	if err != nil {
		return err
	}
	// Signing during the blast lasts -duration like signing alone. At
	// -blast-sign-at 0 it starts first and the blast is sent a fifth of the
	// way in (at most a second), so the fan-out writing its delivery rows
	// and the first feeds of the outbox share the single writer with it;
	// otherwise it starts once that share of the blast has reached the
	// sink. Transactional mail goes before bulk: while the signing's
	// confirmations keep the connections busy, the blast waits.
	var during *result
	var window blastWindow
	signed := make(chan struct{})
	signing := false
	startSigning := func() {
		signing = true
		l := newLoader(srv.URL(), demoSlug, o.Conc, o.Timeout, false)
		window.begin, window.sentBefore = time.Now(), sink.blast.Load()
		go func() {
			defer close(signed)
			during = runLoad(ctx, loadOpts{Duration: o.Duration, Conc: o.Conc, Rate: o.Rate, MaxRequests: o.MaxRequests}, l.sign)
			window.end, window.sentAfter = time.Now(), sink.blast.Load()
			if s, err := c.status(ctx, path); err == nil {
				window.fannedAfter = s.Recipients
			}
			window.acks = l.acks.Load()
		}()
	}
	if !o.BlastSign {
		close(signed)
	} else if o.SignAt == 0 {
		fmt.Fprintf(stdout, "signing for %s, the blast sent %s in…\n", o.Duration, min(time.Second, o.Duration/5))
		startSigning()
		time.Sleep(min(time.Second, o.Duration/5))
	}

	fmt.Fprintf(stdout, "sending the blast from %s over %d connections…\n", srv.URL(), o.SMTPConns)
	start := time.Now()
	if err := c.send(ctx, path); err != nil {
		return err
	}
	lastReport, lastCount := time.Now(), int64(0)
	for sink.blast.Load() < int64(o.Blast) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-srv.done:
			return fmt.Errorf("rally exited mid-blast (%v), %d of %d sent:\n%s", srv.err, sink.blast.Load(), o.Blast, srv.Log())
		case <-time.After(10 * time.Millisecond):
		}
		if o.BlastSign && !signing && sink.blast.Load() >= int64(o.SignAt*float64(o.Blast)) {
			fmt.Fprintf(stdout, "  %3.0fs: %d sent, signing for %s…\n", time.Since(start).Seconds(), sink.blast.Load(), o.Duration)
			if s, err := c.status(ctx, path); err == nil {
				window.fannedBefore = s.Recipients
			}
			startSigning()
		}
		if d := time.Since(lastReport); d >= 10*time.Second {
			n := sink.blast.Load()
			fmt.Fprintf(stdout, "  %3.0fs: %d sent, %.0f msgs/s over the last %s\n", time.Since(start).Seconds(), n,
				float64(n-lastCount)/d.Seconds(), d.Round(time.Second))
			lastReport, lastCount = time.Now(), n
		}
		if time.Since(start) > 15*time.Minute {
			return errors.New("the blast took over 15 minutes")
		}
	}
	took := time.Since(start)
	if o.BlastSign && !signing {
		close(signed) // the blast went out before that share of it was counted
	}
	<-signed
	st, err := c.waitSent(ctx, path, time.Minute)
	if err != nil {
		return err
	}
	if during != nil {
		// Every signing's confirmation too, so none is left queued.
		if err := waitConfirmations(ctx, sink, alone.total().ok+window.acks, 5*time.Minute); err != nil {
			return err
		}
	}
	rss.Close()
	if l := srv.Log(); strings.Contains(l, "level=ERROR") || strings.Contains(l, "mail relay") {
		fmt.Fprintf(stdout, "the server logged:\n%s\n", l)
	}
	if err := srv.Stop(30 * time.Second); err != nil {
		return err
	}
	dups, confirmDups := 0, 0
	for to, n := range sink.Received() {
		switch {
		case n > 1 && strings.HasPrefix(to, "seed-"):
			dups++
		case n > 1:
			confirmDups++
		}
	}
	size := int(sink.bytes.Load() / max(sink.blast.Load(), 1))
	rate := float64(o.Blast) / took.Seconds()
	fmt.Fprintf(stdout, "blast: %d recipients sent in %s: %.0f msgs/s (%d connections, %d B a message), peak server RSS %s, status %s, %d duplicates\n",
		st.Sent, took.Round(time.Millisecond), rate, o.SMTPConns, size, mib(rss.Peak()), st.Status, dups)
	if during != nil {
		a := alone.total().summarize(alone.Elapsed)
		d := during.total().summarize(during.Elapsed)
		fmt.Fprintf(stdout, "signing alone (%d connections): %.0f req/s, p50 %s, p99 %s, errors %d\n",
			o.Conc, a.PerSecond, ms(a.P50), ms(a.P99), a.Errors)
		fmt.Fprintf(stdout, "signing during the blast (%d connections): %.0f req/s, p50 %s, p99 %s, errors %d: %.2f of signing alone\n",
			o.Conc, d.PerSecond, ms(d.P50), ms(d.P99), d.Errors, d.PerSecond/a.PerSecond)
		for _, r := range []*result{alone, during} {
			if errs := r.total().errs; len(errs) > 0 {
				fmt.Fprintf(stdout, "  errors by kind: %v\n", errs)
			}
		}
		w := window.end.Sub(window.begin)
		fmt.Fprintf(stdout, "the blast meanwhile: %d messages in those %s (%.0f msgs/s), fan-out at %d then %d of %d recipients; %d confirmations sent twice\n",
			window.sentAfter-window.sentBefore, w.Round(time.Millisecond), float64(window.sentAfter-window.sentBefore)/w.Seconds(),
			window.fannedBefore, window.fannedAfter, st.Recipients, confirmDups)
	}
	ceiling, err := goMailCeiling(ctx, sink.Addr, o.SMTPConns, o.Blast, size)
	if err != nil {
		return fmt.Errorf("go-mail ceiling: %w", err)
	}
	crate := float64(o.Blast) / ceiling.Seconds()
	fmt.Fprintf(stdout, "go-mail ceiling: %d messages in %s: %.0f msgs/s (%d connections)\n", o.Blast, ceiling.Round(time.Millisecond), crate, o.SMTPConns)
	if during != nil {
		// The blast's time holds the signing and its confirmations' delivery.
		fmt.Fprintf(stdout, "blast/ceiling: not comparable while signing (%.2f)\n", rate/crate)
		return nil
	}
	fmt.Fprintf(stdout, "blast/ceiling: %.2f\n", rate/crate)
	return nil
}

// blastWindow is the signing during a blast: when it ran, how far the
// blast had got at each end (sent, and written by the fan-out), and how
// many signings were acknowledged.
type blastWindow struct {
	begin, end                time.Time
	sentBefore, sentAfter     int64
	fannedBefore, fannedAfter int64 // delivery rows written, as the blast's JSON counts them
	acks                      int64
}

// waitConfirmations waits until the sink has received at least n messages
// other than the blast's: the signings' confirmations.
func waitConfirmations(ctx context.Context, sink *blastSink, n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for sink.total.Load()-sink.blast.Load() < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d confirmations reached the sink in %s", sink.total.Load()-sink.blast.Load(), n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// sinkOnly serves the sink on o.Sink for o.Duration (or until ctx ends),
// for a Rally started by hand, then prints what it received.
func sinkOnly(ctx context.Context, o options, stdout io.Writer) error {
	host, _, err := net.SplitHostPort(o.Sink)
	if err != nil {
		return fmt.Errorf("-sink %q: %w", o.Sink, err)
	}
	if err := checkLoopback("http://" + net.JoinHostPort(host, "25")); err != nil {
		return fmt.Errorf("-sink: %w", err)
	}
	sink, err := listenBlastSink(o.Sink, 0)
	if err != nil {
		return err
	}
	defer sink.Close()
	fmt.Fprintf(stdout, "SMTP sink on %s for %s: RALLY_SMTP_URL=%s\n", sink.Addr, o.Duration, sink.URL())
	select {
	case <-ctx.Done():
	case <-time.After(o.Duration):
	}
	fmt.Fprintf(stdout, "sink: %d messages, %d of them to seeded signers\n", sink.total.Load(), sink.blast.Load())
	return nil
}
