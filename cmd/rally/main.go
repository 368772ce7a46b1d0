// Command rally runs Rally, a self-hosted platform for cause and petition
// campaigns: one binary, one SQLite file.
//
//	rally [serve] [--demo] [flags]       serve (the default)
//	rally migrate [flags]                apply database migrations and exit
//	rally organiser add --email E --name N [--admin] [flags]
//	rally backup FILE [flags]            a consistent online copy of the database
//	rally mail retry [flags]             queue failed mail again
//	rally seed --signatures N [--cause SLUG] [flags]
//	                                     add confirmed signatures, for load tests
//
// Every setting is an environment variable with a flag of the same name
// (RALLY_BASE_URL → --base-url); run `rally serve -h` for the list.
//
// This package wires the others: configuration, the database pools and
// migrations, one Gin engine with the middleware every route shares
// (logging, recovery, error pages, security headers, body limits, CSRF
// through Go's http.CrossOriginProtection, per-address rate limits), and the
// command line. Decisions worth knowing:
//
//   - SQLite in WAL mode with one writer connection and a few readers. The WAL
//     is copied into the database by a checkpointer on its own connection
//     (PRAGMA wal_checkpoint(PASSIVE) every 100 ms while the WAL grows), so
//     the writer's commits never stop to do it; at SQLite's default of 1,000
//     pages the writer stopped every second or so to copy and fsync
//     megabytes, which gave signing its worst latencies.
//   - Go runs on one more thread than there are CPUs (unless GOMAXPROCS is
//     set): the single writer spends most of its time in SQLite's C code and
//     fsync, holding a scheduler slot it does not use for Go. On two cores
//     that was 6% more signings a second and 10% more cause pages.
//   - Go's soft memory limit is 40 MiB plus 64 KiB per open connection, moved
//     in steps of an eighth, and GOGC 400: a fixed limit let a surge's
//     connection buffers fill it and the collector ran without pause.
//   - Public pages carry Cache-Control "public, max-age=0, s-maxage=5,
//     stale-while-revalidate=30", so a CDN in front can absorb a spike.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/term"

	"github.com/rallyhq/rally/cmd/rally/database"
	"github.com/rallyhq/rally/notify"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "rally:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return cmdServe(ctx, args, getenv, stderr)
	case "migrate":
		return cmdMigrate(ctx, args, getenv, stderr)
	case "organiser", "organizer":
		if len(args) == 0 || args[0] != "add" {
			return errors.New("usage: rally organiser add --email E --name N [--admin]")
		}
		return cmdOrganiserAdd(ctx, args[1:], getenv, stdin, stderr)
	case "backup":
		return cmdBackup(ctx, args, getenv, stderr)
	case "mail":
		if len(args) == 0 || args[0] != "retry" {
			return errors.New("usage: rally mail retry")
		}
		return cmdMailRetry(ctx, args[1:], getenv, stderr)
	case "seed":
		return cmdSeed(ctx, args, getenv, stderr)
	case "check-signatures":
		// Not in the usage: the load tool runs it after a run.
		return cmdCheckSignatures(ctx, args, getenv, stdin, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stderr, "usage: rally [serve [--demo] | migrate | organiser add --email E --name N [--admin] | backup FILE | mail retry | seed --signatures N [--cause SLUG]] [flags]")
		return nil
	default:
		return fmt.Errorf("unknown command %q (serve, migrate, organiser add, backup, mail retry, seed)", cmd)
	}
}

func setupLogging(level string, stderr io.Writer) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l})))
	if l > slog.LevelDebug {
		gin.SetMode(gin.ReleaseMode)
	}
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	demo := fs.Bool("demo", false, "add a published sample cause and its organiser to an empty database")
	cfg, err := parseConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	setupLogging(cfg.LogLevel, stderr)
	budget := tuneGC(getenv)
	tuneProcs(getenv)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	a.budget = budget
	if *demo {
		if err := addDemo(ctx, a); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	a.logStartup()
	for _, w := range mailWarnings(cfg) {
		slog.Warn(w)
	}
	startProfiler(getenv("RALLY_PPROF_ADDR"))
	return a.serve(ctx)
}

// tuneGC lets the heap grow to five times what is live before collecting,
// under a soft limit that grows with the open connections (memoryBudget),
// unless GOGC or GOMEMLIMIT say otherwise. Rally's live heap is a few
// megabytes, so the default (twice) collects very often under load for no
// gain, while the limit keeps the process well under 100 MB (at most 88 MB
// in the README's runs at 64 connections, with a million signatures and
// their CSV export). It returns the budget for the server to keep, or nil
// when GOMEMLIMIT sets the limit.
func tuneGC(getenv func(string) string) *memoryBudget {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") != "" {
		return nil
	}
	return newMemoryBudget(debug.SetMemoryLimit)
}

// tuneProcs runs Go code on one more thread than the CPUs Rally may use,
// unless GOMAXPROCS says otherwise. The single writer spends most of its
// time in SQLite's C code and in fsync, holding a scheduler slot it does not
// use for Go; with one slot per CPU, the request goroutines are then left a
// CPU short and the machine idles while requests wait. On two cores the
// extra slot measured 6% more signings a second and a fifth less idle time
// (README, Speed).
func tuneProcs(getenv func(string) string) {
	if getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1)
	}
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := parseConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	setupLogging(cfg.LogLevel, stderr)
	writer, _, closeDB, err := openDB(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer closeDB()
	n, err := database.Migrate(ctx, writer, migrationSets()...)
	if err != nil {
		return err
	}
	slog.Info("migrations applied", slog.Int("new", n))
	return nil
}

func cmdOrganiserAdd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("organiser add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the organiser's email address")
	name := fs.String("name", "", "the organiser's name")
	admin := fs.Bool("admin", false, "make the organiser an admin, who sees every cause")
	cfg, err := parseConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	setupLogging(cfg.LogLevel, stderr)
	if *email == "" || *name == "" {
		return errors.New("usage: rally organiser add --email E --name N [--admin] (password from RALLY_PASSWORD or a prompt)")
	}
	password := getenv("RALLY_PASSWORD")
	if password == "" {
		if password, err = readPassword(stdin, stderr); err != nil {
			return err
		}
	}
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	o, err := a.accounts.AddOrganiser(ctx, *name, *email, password, *admin)
	if err != nil {
		return fmt.Errorf("add organiser: %w", err)
	}
	role := "organiser"
	if o.Admin {
		role = "admin"
	}
	fmt.Fprintf(stderr, "added %s %s <%s>; they can log in at %s/login\n", role, o.Name, o.Email, cfg.BaseURL)
	return nil
}

// readPassword asks for the password on the terminal without echo, or reads
// one line from standard input when it is not a terminal.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password (at least 10 characters): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password: set RALLY_PASSWORD or type it at the prompt")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func cmdBackup(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, file, err := parseWithFile(fs, args, getenv, "usage: rally backup FILE")
	if err != nil {
		return err
	}
	if _, err := os.Stat(file); err == nil {
		return fmt.Errorf("backup: %s already exists", file)
	}
	writer, _, closeDB, err := openDB(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer closeDB()
	if err := database.Backup(ctx, writer, file); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "backed up to %s\n", file)
	return nil
}

// parseWithFile parses a command's flags and its one FILE argument, which
// may come before or after them; usage is the error when FILE is missing.
func parseWithFile(fs *flag.FlagSet, args []string, getenv func(string) string, usage string) (config, string, error) {
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	cfg, err := parseConfig(fs, args, getenv)
	if err != nil {
		return cfg, "", err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if file == "" {
		return cfg, "", errors.New(usage)
	}
	return cfg, file, nil
}

// openDB opens the database in cfg.Data, and with migrate brings it up to
// date first; closeDB closes both pools.
func openDB(ctx context.Context, cfg config, migrate bool) (writer, reader *sql.DB, closeDB func(), err error) {
	writer, reader, err = database.Open(cfg.Data, cfg.Sync)
	if err != nil {
		return nil, nil, nil, err
	}
	closeDB = func() {
		reader.Close()
		writer.Close()
	}
	if migrate {
		n, err := database.Migrate(ctx, writer, migrationSets()...)
		if err != nil {
			closeDB()
			return nil, nil, nil, err
		}
		if n > 0 {
			slog.Info("migrations applied", slog.Int("new", n))
		}
	}
	return writer, reader, closeDB, nil
}

// cmdMailRetry queues failed mail again, once what failed it is fixed (a
// relay that refused Rally's sender, say). A running Rally sends it within
// seconds.
func cmdMailRetry(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mail retry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, err := parseConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	setupLogging(cfg.LogLevel, stderr)
	writer, _, closeDB, err := openDB(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer closeDB()
	n, err := notify.RetryFailed(ctx, writer, time.Now())
	if err != nil {
		return err
	}
	noun := "messages"
	if n == 1 {
		noun = "message"
	}
	fmt.Fprintf(stderr, "queued %d failed %s again\n", n, noun)
	return nil
}

// mailWarnings returns what in the mail settings will cost deliveries: with
// a relay set, a sender still at localhost, which relays refuse or mailbox
// providers file as spam; with a relay beyond this machine, http links,
// since mailbox providers offer one-click unsubscribe (RFC 8058) only for
// https.
func mailWarnings(cfg config) []string {
	if cfg.SMTPURL == "" {
		return nil
	}
	var out []string
	if a, err := mail.ParseAddress(cfg.MailFrom); err == nil && strings.HasSuffix(strings.ToLower(a.Address), "@localhost") {
		out = append(out, "RALLY_MAIL_FROM is still "+a.Address+": set an address of your own domain, or relays refuse the mail and mailbox providers file it as spam")
	}
	if u, err := url.Parse(cfg.SMTPURL); err == nil && !loopbackHost(u.Hostname()) && !cfg.secure() {
		out = append(out, "RALLY_BASE_URL is http:// while mail goes out to a real relay: mailbox providers want https links, for one-click unsubscribe among others")
	}
	return out
}

// loopbackHost reports whether host names this machine.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
