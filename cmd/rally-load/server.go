package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// demoSlug is the slug of the cause `rally serve --demo` creates.
const demoSlug = "safe-streets-around-our-schools"

// moduleRoot returns the folder of the go.mod that holds ./cmd/rally, so the
// build works from any folder inside the module (the tests run in
// cmd/rally-load).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the Rally module: run from its folder or pass -rally-bin")
	}
	return filepath.Dir(mod), nil
}

// buildRally compiles ./cmd/rally into dir, with any extra go build flags,
// and returns the binary's path.
func buildRally(ctx context.Context, dir string, flags ...string) (string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "rally")
	args := append(append([]string{"build"}, flags...), "-o", bin, "./cmd/rally")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/rally: %w\n%s", err, out)
	}
	return bin, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// serverEnv is the environment a started Rally runs with: the tool's own,
// minus every Rally and Stripe setting, so a developer's shell cannot point
// a load run at real SMTP or Stripe.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RALLY_") || strings.HasPrefix(kv, "STRIPE_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "RALLY_RATE_LIMITS=off", "RALLY_LOG_LEVEL=warn")
}

// migrateData runs `rally migrate` on a data folder, creating its database.
func migrateData(ctx context.Context, bin, data string) error {
	cmd := exec.CommandContext(ctx, bin, "migrate", "--data", data)
	cmd.Env = serverEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rally migrate: %w\n%s", err, out)
	}
	return nil
}

// rallyCommand runs one of rally's commands, with the environment of a
// started Rally, its output going to w.
func rallyCommand(ctx context.Context, bin string, w io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = serverEnv()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("rally %s: %w", args[0], err)
	}
	return nil
}

// serverConfig says how to start Rally.
type serverConfig struct {
	Bin      string // the rally binary
	Data     string // RALLY_DATA
	Sync     string // full or normal
	MailRate string // messages per second; "0" = no limit
	Log      io.Writer
	// SMTPURL, when set, sends mail there instead of the dev outbox, over
	// SMTPConns connections.
	SMTPURL   string
	SMTPConns string
	// PprofAddr, when set, serves the server's profiler there
	// (RALLY_PPROF_ADDR).
	PprofAddr string
}

// rallyServer is a running `rally serve --demo` child process on a free
// loopback port.
type rallyServer struct {
	Addr string
	cmd  *exec.Cmd
	log  *tailBuffer
	done chan struct{}
	err  error
}

// URL returns the server's base URL.
func (s *rallyServer) URL() string { return "http://" + s.Addr }

// PID returns the server's process id.
func (s *rallyServer) PID() int { return s.cmd.Process.Pid }

// startRally starts Rally and waits until /healthz answers. A port taken
// between choosing it and listening on it is retried on another.
func startRally(ctx context.Context, cfg serverConfig) (*rallyServer, error) {
	var err error
	for range 3 {
		var s *rallyServer
		if s, err = startOnce(ctx, cfg); err == nil {
			return s, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
	}
	return nil, err
}

func startOnce(ctx context.Context, cfg serverConfig) (*rallyServer, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if cfg.Sync == "" {
		cfg.Sync = "full"
	}
	if cfg.MailRate == "" {
		cfg.MailRate = "50"
	}
	s := &rallyServer{Addr: addr, log: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	s.cmd = exec.Command(cfg.Bin, "serve", "--demo", "--addr", addr, "--data", cfg.Data,
		"--base-url", "http://"+addr, "--rate-limits", "off", "--log-level", "warn",
		"--sync", cfg.Sync, "--mail-rate", cfg.MailRate)
	if cfg.SMTPURL != "" {
		s.cmd.Args = append(s.cmd.Args, "--smtp-url", cfg.SMTPURL)
	}
	if cfg.SMTPConns != "" {
		s.cmd.Args = append(s.cmd.Args, "--smtp-conns", cfg.SMTPConns)
	}
	s.cmd.Env = serverEnv()
	if cfg.PprofAddr != "" {
		s.cmd.Env = append(s.cmd.Env, "RALLY_PPROF_ADDR="+cfg.PprofAddr)
	}
	var out io.Writer = s.log
	if cfg.Log != nil {
		out = io.MultiWriter(s.log, cfg.Log)
	}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = childAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start rally: %w", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitHealthy(ctx, 60*time.Second); err != nil {
		_ = s.Kill()
		return nil, err
	}
	return s, nil
}

// waitHealthy polls /healthz until it answers 200, the process exits, or
// the timeout passes.
func (s *rallyServer) waitHealthy(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/healthz", nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("rally exited before it was healthy (%v):\n%s", s.err, s.log.String())
		case <-ctx.Done():
			return fmt.Errorf("rally not healthy at %s after %s:\n%s", s.URL(), timeout, s.log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop asks the server to shut down gracefully (SIGTERM) and waits; after
// the timeout it kills it.
func (s *rallyServer) Stop(timeout time.Duration) error {
	select {
	case <-s.done:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return s.Kill()
	}
	select {
	case <-s.done:
		if s.err != nil {
			return fmt.Errorf("rally: %w\n%s", s.err, s.log.String())
		}
		return nil
	case <-time.After(timeout):
		_ = s.Kill()
		return fmt.Errorf("rally did not stop within %s; killed", timeout)
	}
}

// Kill ends the server at once with SIGKILL, as a crash or the OOM killer
// would, and waits for it to be gone.
func (s *rallyServer) Kill() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-s.done
	return nil
}

// Log returns the end of what the server printed.
func (s *rallyServer) Log() string { return s.log.String() }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// rssSampler reads a process's resident set size from /proc every interval
// and keeps the maximum.
type rssSampler struct {
	max  atomic.Int64 // bytes, since the last Take
	peak atomic.Int64 // bytes, over the whole run
	path atomic.Pointer[string]
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	r := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	r.Follow(pid)
	go func() {
		defer close(r.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if b, err := readRSS(*r.path.Load()); err == nil {
				for m := r.max.Load(); b > m && !r.max.CompareAndSwap(m, b); m = r.max.Load() {
				}
				for m := r.peak.Load(); b > m && !r.peak.CompareAndSwap(m, b); m = r.peak.Load() {
				}
			}
			select {
			case <-r.stop:
				return
			case <-t.C:
			}
		}
	}()
	return r
}

// Follow samples process pid from now on (a restarted server), keeping the
// largest figures seen so far.
func (r *rssSampler) Follow(pid int) {
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	r.path.Store(&path)
}

// Take returns the largest RSS seen since the previous Take, in bytes.
func (r *rssSampler) Take() int64 { return r.max.Swap(0) }

// Peak returns the largest RSS seen since sampling began, in bytes.
func (r *rssSampler) Peak() int64 { return r.peak.Load() }

// Close stops sampling.
func (r *rssSampler) Close() {
	close(r.stop)
	<-r.done
}

// readRSS returns VmRSS from a /proc/PID/status file, in bytes.
func readRSS(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}

func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmRSS line")
}
