// Command rally-load drives a running Rally over HTTP and proves how much it
// takes: signing (unique emails), confirming, reading the cause page and its
// JSON, at a fixed rate or flat out, for a bounded time and count. It
// prints throughput, latency percentiles and errors by kind, and ends with
// one line per scenario:
//
//	sign: 21345 req/s, p50 1.8 ms, p99 12.4 ms, errors 0, …
//
// Usage:
//
//	rally-load -start -scenario sign -duration 10s      build and start Rally on a temp folder, then load it
//	rally-load -start -seed 1000000 -scenario page,json a cause with a million signatures
//	rally-load -url http://127.0.0.1:8080 -scenario mix -rate 2000 -duration 30s
//	rally-load -url http://127.0.0.1:8080 -data ./rally-data -scenario confirm
//
// It only ever sends traffic to a loopback address. Throughput and
// latencies count successful responses; failures are listed by kind.
//
// It is a client: it talks to Rally over HTTP and through rally's command
// line only. With -start it builds and runs `rally migrate`, `rally seed`
// (for -seed) and `rally serve`; afterwards, given the server's data folder,
// it has `rally check-signatures` check that every signing and confirmation
// that got a success answer is on disk. To seed a stopped server's folder
// by hand: rally seed --signatures 1000000 --data ./rally-data.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "rally-load:", err)
		}
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	URL         string
	Slug        string
	Scenarios   []string
	Duration    time.Duration
	Rate        float64
	Conc        int
	MaxRequests int64
	Timeout     time.Duration
	Compress    bool

	Start     bool
	RallyBin  string
	Data      string
	Keep      bool
	Sync      string
	MailRate  string
	ReportRSS bool

	Seed      int
	SeedBatch int

	Links    int
	MailWait time.Duration

	Blast     int
	SMTPConns int
	BlastSign bool
	SignAt    float64
	Pprof     string
	Sink      string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("rally-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var scen string
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "Rally to load (loopback only); ignored with -start")
	fs.StringVar(&o.Slug, "slug", demoSlug, "the cause to sign and read")
	fs.StringVar(&scen, "scenario", "sign", "what to send, or a comma-separated list run in turn: "+strings.Join(scenarios, ", "))
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long each scenario sends")
	fs.Float64Var(&o.Rate, "rate", 0, "requests per second, open loop (latency counts from when each was due); 0 = flat out")
	fs.IntVar(&o.Conc, "c", 64, "concurrent connections (and workers)")
	fs.Int64Var(&o.MaxRequests, "max-requests", 5_000_000, "hard bound on requests per scenario")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "timeout of one request")
	fs.BoolVar(&o.Compress, "compress", false, "ask for gzip responses")
	fs.BoolVar(&o.Start, "start", false, "build ./cmd/rally (or use -rally-bin), start it on a temp folder and a free port, load it, stop it")
	fs.StringVar(&o.RallyBin, "rally-bin", "", "the rally binary to start, seed with and check with, instead of building one")
	fs.StringVar(&o.Data, "data", "", "the server's RALLY_DATA: for confirm links and checking the result on disk; with -start, use this folder instead of a temp one")
	fs.BoolVar(&o.Keep, "keep", false, "with -start: keep the temp folder")
	fs.StringVar(&o.Sync, "sync", "full", "with -start: SQLite synchronous, full or normal")
	fs.StringVar(&o.MailRate, "mail-rate", "", "with -start: mails per second the server sends; default 50, and no limit for confirm (the server restarts between them)")
	fs.BoolVar(&o.ReportRSS, "report-rss", false, "with -start: sample the server's resident memory every 100 ms and print the maximum")
	fs.IntVar(&o.Seed, "seed", 0, "with -start: add N confirmed signatures to the cause (rally seed) before serving")
	fs.IntVar(&o.SeedBatch, "seed-batch", 20000, "signatures per seeding transaction")
	fs.IntVar(&o.Links, "links", 0, "confirm: people to sign up first, whose links are confirmed; default rate×duration, or 5000 flat out")
	fs.DurationVar(&o.MailWait, "mail-wait", 30*time.Second, "confirm: stop waiting for the mails once none has arrived for this long")
	fs.IntVar(&o.Blast, "blast", 0, "start Rally on a temp folder with N signers and send them a blast into a local SMTP sink, no rate limit; then the go-mail ceiling with the same connections")
	fs.IntVar(&o.SMTPConns, "smtp-conns", 8, "with -blast: RALLY_SMTP_CONNS, and the ceiling's connections")
	fs.BoolVar(&o.BlastSign, "blast-sign", false, "with -blast: sign with -c connections (at -rate) for -duration alone, then again during the blast (see -blast-sign-at)")
	fs.Float64Var(&o.SignAt, "blast-sign-at", 0, "with -blast-sign: the share of the blast sent before signing starts again; at 0 signing starts first and the blast is sent a second in, beside its fan-out")
	fs.StringVar(&o.Sink, "sink", "", "serve only a local SMTP sink on this loopback address (e.g. 127.0.0.1:2526) for -duration, for a Rally started by hand")
	fs.StringVar(&o.Pprof, "pprof", "", "with -blast: a loopback address where the started Rally serves Go's profiler (RALLY_PPROF_ADDR)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rally-load [-start | -url http://127.0.0.1:PORT] [-scenario sign,confirm,page,json,mix] [-duration 10s] [-rate 0] [-c 64] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(scen, ",") {
		s = strings.TrimSpace(s)
		if !contains(scenarios, s) {
			return o, fmt.Errorf("-scenario %q: want %s", s, strings.Join(scenarios, ", "))
		}
		o.Scenarios = append(o.Scenarios, s)
	}
	switch {
	case o.Duration <= 0:
		return o, errors.New("-duration must be positive")
	case o.Rate < 0 || math.IsInf(o.Rate, 0) || math.IsNaN(o.Rate):
		return o, errors.New("-rate must be 0 (flat out) or a positive number")
	case o.Conc < 1:
		return o, errors.New("-c must be at least 1")
	case o.MaxRequests < 1:
		return o, errors.New("-max-requests must be at least 1")
	case o.Timeout <= 0:
		return o, errors.New("-timeout must be positive")
	case o.Seed < 0:
		return o, errors.New("-seed must not be negative")
	case o.Sync != "full" && o.Sync != "normal":
		return o, errors.New("-sync: want full or normal")
	case o.Seed > 0 && !o.Start:
		return o, errors.New("-seed needs -start; to seed a stopped server's folder, run rally seed --signatures N --data FOLDER")
	case o.Blast < 0 || o.SMTPConns < 1 || o.SMTPConns > 64:
		return o, errors.New("-blast must not be negative, -smtp-conns from 1 to 64")
	case !(o.SignAt >= 0 && o.SignAt < 1):
		return o, errors.New("-blast-sign-at: want a share from 0 to below 1")
	case o.ReportRSS && !o.Start:
		return o, errors.New("-report-rss needs -start: it samples the server the tool started")
	}
	if !o.Start {
		if err := checkLoopback(o.URL); err != nil {
			return o, err
		}
		if contains(o.Scenarios, "confirm") && o.Data == "" {
			return o, errors.New("confirm reads the links from the server's dev outbox: give -data (its RALLY_DATA) or use -start")
		}
	}
	return o, nil
}

// mailRate is the mail rate a started Rally runs a scenario with: the
// -mail-rate given, or else Rally's default of 50 a second, as a new user
// runs it, except for confirm, whose links must all arrive before it can
// start (5,000 mails would take 100 s at 50 a second).
func (o options) mailRate(scenario string) string {
	switch {
	case o.MailRate != "":
		return o.MailRate
	case scenario == "confirm":
		return "0"
	}
	return "50"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkLoopback refuses any target that is not this machine's loopback:
// 127.0.0.0/8, ::1 or localhost.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("-url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("-url %q: want http:// or https://", raw)
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-url %q: the load tool only sends to loopback (127.0.0.0/8, ::1, localhost)", raw)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if o.Sink != "" {
		return sinkOnly(ctx, o, stdout)
	}
	if o.Blast > 0 {
		return blastOnly(ctx, o, stdout)
	}
	t := &tool{o: o, out: stdout, errw: stderr, begin: time.Now()}
	return t.run(ctx)
}

// tool is one invocation: maybe a server it started, and the scenarios'
// results.
type tool struct {
	o    options
	out  io.Writer
	errw io.Writer

	tmp  string
	bin  string
	data string
	cfg  serverConfig // how srv was started
	srv  *rallyServer
	logf *os.File
	rss  *rssSampler

	begin   time.Time
	mail    *linkCollector
	l       *loader
	lines   []string
	signed  []int64
	confirm []int64
}

func (t *tool) run(ctx context.Context) (err error) {
	base := t.o.URL
	t.data = t.o.Data
	defer func() {
		if cerr := t.cleanup(); err == nil {
			err = cerr
		}
	}()
	if t.o.Start {
		if err := t.startServer(ctx); err != nil {
			return err
		}
		base = t.srv.URL()
	}
	t.l = newLoader(base, t.o.Slug, t.o.Conc, t.o.Timeout, t.o.Compress)
	mode := "flat out"
	if t.o.Rate > 0 {
		mode = fmt.Sprintf("%s req/s open loop", trimZero(fmt.Sprintf("%.1f", t.o.Rate)))
	}
	fmt.Fprintf(t.out, "rally-load: %s, cause %s, run %s, %d connections, %s, %s per scenario\n",
		base, t.o.Slug, t.l.run, t.o.Conc, mode, t.o.Duration)

	for _, s := range t.o.Scenarios {
		if ctx.Err() != nil {
			break
		}
		if err := t.scenario(ctx, s); err != nil {
			return err
		}
	}

	if t.srv != nil {
		if err := t.srv.Stop(30 * time.Second); err != nil {
			fmt.Fprintln(t.errw, "rally-load: stopping rally:", err)
		}
		if t.rss != nil {
			t.rss.Close()
			fmt.Fprintf(t.out, "server rss: max %s over the run\n", mib(t.rss.Peak()))
		}
	}
	var verr error
	switch {
	case ctx.Err() != nil:
		verr = fmt.Errorf("interrupted: %w", ctx.Err())
	case t.data != "" && (len(t.signed) > 0 || len(t.confirm) > 0):
		verr = t.verify(ctx)
	}
	fmt.Fprintln(t.out)
	for _, l := range t.lines {
		fmt.Fprintln(t.out, l)
	}
	return verr
}

// startServer builds or finds rally, prepares its data folder (migrations,
// and with -seed the demo cause and its signatures) and starts it.
func (t *tool) startServer(ctx context.Context) error {
	if err := t.tempDir(); err != nil {
		return err
	}
	var err error
	if t.bin, err = t.rally(ctx); err != nil {
		return err
	}
	if t.data == "" {
		t.data = filepath.Join(t.tmp, "data")
	}
	if err := migrateData(ctx, t.bin, t.data); err != nil {
		return err
	}
	if t.logf, err = os.Create(filepath.Join(t.tmp, "rally.log")); err != nil {
		return err
	}
	t.cfg = serverConfig{Bin: t.bin, Data: t.data, Sync: t.o.Sync, MailRate: t.o.mailRate(t.o.Scenarios[0]), Log: t.logf}
	if t.o.Seed > 0 {
		// rally seed adds the demo cause to the new database first.
		if err := rallyCommand(ctx, t.bin, t.out, "seed", "--signatures", strconv.Itoa(t.o.Seed),
			"--batch", strconv.Itoa(t.o.SeedBatch), "--cause", t.o.Slug, "--data", t.data, "--log-level", "warn"); err != nil {
			return err
		}
	}
	if t.srv, err = startRally(ctx, t.cfg); err != nil {
		return err
	}
	if t.o.ReportRSS {
		t.rss = sampleRSS(t.srv.PID(), 100*time.Millisecond)
	}
	return nil
}

// serveMailAt restarts the server the tool started, on the same data, when
// the next scenario wants another mail rate: a sign run then measures Rally
// as configured by default even when a confirm run, which needs its mails
// sent at once, comes before or after it.
func (t *tool) serveMailAt(ctx context.Context, rate string) error {
	if t.srv == nil || t.cfg.MailRate == rate {
		return nil
	}
	fmt.Fprintf(t.out, "\nrally-load: restarting rally with its mail at %s\n", rateText(rate))
	if err := t.srv.Stop(30 * time.Second); err != nil {
		return fmt.Errorf("stop rally: %w", err)
	}
	t.cfg.MailRate = rate
	srv, err := startRally(ctx, t.cfg)
	if err != nil {
		return err
	}
	t.srv = srv
	t.l.base = srv.URL()
	if t.rss != nil {
		t.rss.Follow(srv.PID())
	}
	return nil
}

// rateText says a -mail-rate value in words.
func rateText(rate string) string {
	if rate == "0" {
		return "no limit"
	}
	return rate + " a second"
}

// cleanup stops the server if it still runs and removes the temp folder.
func (t *tool) cleanup() error {
	if t.srv != nil {
		_ = t.srv.Stop(30 * time.Second)
	}
	if t.logf != nil {
		_ = t.logf.Close()
	}
	if t.tmp == "" {
		return nil
	}
	if t.o.Keep {
		fmt.Fprintf(t.errw, "rally-load: kept %s (data %s, server log rally.log)\n", t.tmp, t.data)
		return nil
	}
	return os.RemoveAll(t.tmp)
}

func (t *tool) loadOpts() loadOpts {
	return loadOpts{Duration: t.o.Duration, Rate: t.o.Rate, Conc: t.o.Conc, MaxRequests: t.o.MaxRequests}
}

// scenario runs one scenario and prints its table.
func (t *tool) scenario(ctx context.Context, name string) error {
	if err := t.serveMailAt(ctx, t.o.mailRate(name)); err != nil {
		return err
	}
	if name == "confirm" {
		if err := t.prepareConfirm(ctx); err != nil {
			return err
		}
	}
	step, err := t.l.step(name)
	if err != nil {
		return err
	}
	if t.rss != nil {
		t.rss.Take()
	}
	r := runLoad(ctx, t.loadOpts(), step)
	t.signed = append(t.signed, r.Signed...)
	t.confirm = append(t.confirm, r.Confirmed...)
	total := r.total()
	sum := total.summarize(r.Elapsed)
	t.printTable(name, r, sum)
	if t.rss != nil {
		fmt.Fprintf(t.out, "  server rss: max %s\n", mib(t.rss.Take()))
	}
	t.lines = append(t.lines, sum.line(name))
	return nil
}

// prepareConfirm finds the links the confirm scenario posts: those mailed
// to people an earlier scenario of this run signed up and nobody has
// confirmed yet, topped up by signing up new people, and waits for their
// mails in the dev outbox.
func (t *tool) prepareConfirm(ctx context.Context) error {
	if t.data == "" {
		return errors.New("confirm needs the server's data folder: -data or -start")
	}
	n := t.o.Links
	if n <= 0 {
		n = 5000
		if t.o.Rate > 0 {
			n = int(math.Ceil(t.o.Rate * t.o.Duration.Seconds()))
		}
	}
	n = int(min(int64(n), t.o.MaxRequests))
	if t.mail == nil {
		t.mail = newLinkCollector(filepath.Join(t.data, "mail"), t.l.run, t.begin)
	}
	done := make(map[int64]bool, len(t.confirm))
	for _, c := range t.confirm {
		done[c] = true
	}
	open := len(t.signed) - len(done)
	if need := n - open; need > 0 {
		fmt.Fprintf(t.out, "\nconfirm: signing up %d people first …\n", need)
		r := runLoad(ctx, loadOpts{Duration: 5 * time.Minute, Conc: t.o.Conc, MaxRequests: int64(need)}, t.l.sign)
		t.signed = append(t.signed, r.Signed...)
		open += len(r.Signed)
		fmt.Fprintf(t.out, "confirm: %d signed in %s", len(r.Signed), r.Elapsed.Round(time.Millisecond))
		if bad := r.total().errorCount(); bad > 0 {
			fmt.Fprintf(t.out, ", %s failed", plural(bad, "request", "requests"))
		}
		fmt.Fprintln(t.out)
	}
	begin := time.Now()
	// Mails of confirmed signers are collected too: ask for enough.
	all, err := waitLinks(ctx, t.mail, min(n, open)+len(done), t.o.MailWait)
	if err != nil {
		return err
	}
	var links []link
	for _, lk := range all {
		if !done[lk.N] && len(links) < n {
			links = append(links, lk)
		}
	}
	if len(links) == 0 {
		return fmt.Errorf("no confirmation mail for this run arrived in %s: is the server using the dev outbox (no RALLY_SMTP_URL) on this data folder?", t.mail.dir)
	}
	fmt.Fprintf(t.out, "confirm: %d links to post, read from the dev outbox (waited %s for the mails)\n", len(links), time.Since(begin).Round(time.Millisecond))
	t.l.links = links
	t.l.nextLink.Store(0)
	return nil
}

// printTable prints one scenario's figures, per kind of request, and its
// errors by kind.
func (t *tool) printTable(name string, r *result, sum summary) {
	fmt.Fprintf(t.out, "\n== %s (%s)\n", name, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(t.out, "  %-8s %9s %9s %8s %9s %9s %9s %9s\n", "request", "requests", "ok", "ok/s", "p50", "p95", "p99", "max")
	row := func(label string, s summary) {
		fmt.Fprintf(t.out, "  %-8s %9d %9d %8.0f %9s %9s %9s %9s\n", label, s.Requests, s.OK, s.PerSecond, ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max))
	}
	if len(r.Ops) > 1 {
		for _, op := range scenarios {
			if o := r.Ops[op]; o != nil {
				row(op, o.summarize(r.Elapsed))
			}
		}
	}
	row("all", sum)
	if r.Exhausted {
		fmt.Fprintln(t.out, "  (stopped early: every link was confirmed)")
	}
	total := r.total()
	if len(total.errs) > 0 {
		fmt.Fprintln(t.out, "  errors:")
		for _, k := range sortedKinds(total.errs) {
			fmt.Fprintf(t.out, "    %-40s %d\n", k, total.errs[k])
		}
	}
}

// verify has rally check the run's acknowledged work against the database:
// every signing and confirmation that got a success answer on disk, each
// signing with its mail queued or sent.
func (t *tool) verify(ctx context.Context) error {
	bin, err := t.rally(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	var list strings.Builder
	for _, n := range t.signed {
		fmt.Fprintf(&list, "signed %s\n", t.l.email(n))
	}
	for _, n := range t.confirm {
		fmt.Fprintf(&list, "confirmed %s\n", t.l.email(n))
	}
	file := filepath.Join(t.tmp, "acknowledged.txt")
	if err := os.WriteFile(file, []byte(list.String()), 0o600); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	// It says what it found, and fails when anything is missing.
	if err := rallyCommand(ctx, bin, t.out, "check-signatures", file, "--cause", t.o.Slug, "--data", t.data, "--log-level", "warn"); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}

// rally returns the rally binary the tool runs: the one it started, the
// one -rally-bin names, or else one it builds into its temp folder.
func (t *tool) rally(ctx context.Context) (string, error) {
	if t.bin != "" {
		return t.bin, nil
	}
	if t.o.RallyBin != "" {
		t.bin = t.o.RallyBin
		return t.bin, nil
	}
	if err := t.tempDir(); err != nil {
		return "", err
	}
	fmt.Fprintln(t.errw, "rally-load: building ./cmd/rally …")
	var err error
	t.bin, err = buildRally(ctx, t.tmp)
	return t.bin, err
}

// tempDir makes the tool's temp folder, if it has none yet.
func (t *tool) tempDir() error {
	if t.tmp != "" {
		return nil
	}
	var err error
	t.tmp, err = os.MkdirTemp("", "rally-load-*")
	return err
}
