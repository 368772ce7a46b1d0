package notify

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	relayUp = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "rally_mail_relay_up",
		Help: "1 while the mail relay takes mail, 0 while the worker waits for it (unreachable, refusing Rally, or busy).",
	})
	relayErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "rally_mail_relay_errors_total",
		Help: "Messages the relay could not be given, by why: unreachable, refused (sender, login, TLS: fix the settings), busy.",
	}, []string{"reason"})
)

func init() { relayUp.Set(1) }

// relayBackoffMax caps the wait between tries of a relay that is down.
const relayBackoffMax = 5 * time.Minute

// relayBackoff is the wait after the n-th failed round in a row: 1 s, 2 s,
// 4 s … up to relayBackoffMax.
func relayBackoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 20 {
		return relayBackoffMax
	}
	return min(time.Second<<(n-1), relayBackoffMax)
}

// relayState is what the worker knows of the relay. Only the goroutine
// running the rounds touches it.
type relayState struct {
	down     bool
	kind     string    // what is wrong, while down
	since    time.Time // when it went down
	failures int       // failed rounds in a row
	retryAt  time.Time // no round before this while down
}

// relayFailed notes a round in which the relay took no message because of
// err: the worker waits longer each time, and says so once per outage (and
// again if what is wrong changes).
func (w *Worker) relayFailed(now time.Time, err *relayError) {
	s := &w.relay
	s.failures++
	wait := relayBackoff(s.failures)
	s.retryAt = now.Add(wait)
	relayUp.Set(0)
	if s.down && s.kind == err.kind {
		return
	}
	if !s.down {
		s.since = now
	}
	s.down, s.kind = true, err.kind
	attrs := []any{slog.Any("error", err), slog.Duration("retry_in", wait), slog.Duration("retry_at_most_every", relayBackoffMax)}
	switch err.kind {
	case relayRefused:
		w.log.Error("mail relay refuses Rally's mail: check RALLY_SMTP_URL (user, password, TLS) and RALLY_MAIL_FROM; mail waits in the outbox", attrs...)
	case relayBusy:
		w.log.Warn("mail relay is busy; mail waits in the outbox", attrs...)
	default:
		w.log.Error("mail relay unreachable; mail waits in the outbox", attrs...)
	}
}

// relayReached notes a round in which the relay answered.
func (w *Worker) relayReached(now time.Time) {
	s := &w.relay
	if s.down {
		w.log.Info("mail relay takes mail again", slog.Duration("after", now.Sub(s.since).Round(time.Second)))
	}
	*s = relayState{}
	relayUp.Set(1)
}

// relayWait reports whether the worker is waiting for the relay, and how
// much longer.
func (w *Worker) relayWait(now time.Time) (time.Duration, bool) {
	if !w.relay.down || !now.Before(w.relay.retryAt) {
		return 0, false
	}
	return w.relay.retryAt.Sub(now), true
}
