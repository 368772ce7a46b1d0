package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rallyhq/rally/templates"
)

// WorkerOptions configure a Worker. Zero values get the defaults.
type WorkerOptions struct {
	// Rate is how many messages per second to send (RALLY_MAIL_RATE);
	// 0 means no limit.
	Rate float64
	// Lease is how long a claimed message stays reserved for this worker
	// before another may take it (default 5 minutes). A batch must be sent
	// within it.
	Lease time.Duration
	// Batch is the most messages claimed and sent at once (default 50).
	Batch int
	// Poll is how often an idle worker looks for due messages (default 5 s);
	// Kick and Enqueue wake it sooner.
	Poll time.Duration
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
	// Reader, if set, is used to count queued messages for the
	// rally_outbox_queued gauge, off the writer connection.
	Reader *sql.DB
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Renderer renders mails queued by template; without it such mails fail.
	Renderer MailRenderer
	// KeepSent is how long a sent message stays in the outbox before the
	// worker deletes it (default 30 days). Failed messages are kept.
	KeepSent time.Duration
}

// Worker delivers the outbox. It claims due messages in batches with a lease,
// sends them outside any transaction, then records every outcome of the batch
// in one transaction, so it holds the single writer only briefly and never
// while talking to a mail server. Delivery is at least once: a worker that
// dies after sending but before recording leaves the batch to be sent again
// when its lease runs out.
type Worker struct {
	db     *sql.DB
	sender Sender
	opts   WorkerOptions
	kick   chan struct{}
	log    *slog.Logger
}

// NewWorker returns a worker that claims messages through writer (the single
// writer pool) and delivers them with s.
func NewWorker(writer *sql.DB, s Sender, opts WorkerOptions) *Worker {
	if opts.Lease <= 0 {
		opts.Lease = 5 * time.Minute
	}
	if opts.Batch <= 0 {
		opts.Batch = 50
	}
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rate < 0 {
		opts.Rate = 0
	}
	if opts.KeepSent <= 0 {
		opts.KeepSent = 30 * 24 * time.Hour
	}
	l := opts.Logger
	if l == nil {
		l = slog.Default()
	}
	return &Worker{db: writer, sender: s, opts: opts, kick: make(chan struct{}, 1), log: l.With(slog.String("component", "mail"))}
}

// Kick wakes an idle worker, for when a message was just queued. It never
// blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// batchSize keeps a batch to about a second's worth of sending, so a rate
// limit is kept smoothly rather than in bursts.
func (w *Worker) batchSize() int {
	n := w.opts.Batch
	if w.opts.Rate > 0 && float64(n) > w.opts.Rate {
		n = max(int(w.opts.Rate), 1)
	}
	return n
}

// Run delivers messages until ctx is cancelled, then returns nil once the
// batch in flight has been sent and recorded. Database errors are logged and
// retried after Poll.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info("mail worker started", slog.Any("sender", w.sender), slog.Float64("rate", w.opts.Rate))
	defer w.log.Info("mail worker stopped")
	var next time.Time      // the rate limit's earliest start of the next batch
	var lastCount time.Time // when the queued gauge was last refreshed
	var lastPurge time.Time // when sent mail was last deleted
	for {
		if !sleepUntil(ctx, next) {
			return nil
		}
		if time.Since(lastPurge) >= purgeEvery {
			if n, err := w.PurgeSent(ctx); err != nil && ctx.Err() == nil {
				w.log.Error("delete sent mail", slog.Any("error", err))
			} else if n > 0 {
				w.log.Info("deleted sent mail", slog.Int("messages", n), slog.Duration("older_than", w.opts.KeepSent))
			}
			lastPurge = time.Now()
		}
		if w.opts.Reader != nil && time.Since(lastCount) >= 15*time.Second {
			if n, err := countQueued(ctx, w.opts.Reader); err == nil {
				outboxQueued.Set(float64(n))
			}
			lastCount = time.Now()
		}
		start := time.Now()
		n, err := w.deliverDue(ctx, w.batchSize())
		if w.opts.Rate > 0 && n > 0 {
			next = start.Add(time.Duration(float64(n) / w.opts.Rate * float64(time.Second)))
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.log.Error("deliver mail", slog.Any("error", err))
		}
		if err != nil || n < w.batchSize() {
			// Nothing more is due: wait for a kick, a new message or the next
			// poll. While signings pour in, wake-ups come constantly; the gap
			// gathers them into fuller batches, so claims stay few.
			next = later(next, start.Add(idleGap))
			t := time.NewTimer(w.opts.Poll)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-w.kick:
			case <-enqueued:
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// purgeEvery is how often the worker deletes sent mail past KeepSent.
const purgeEvery = time.Hour

// PurgeSent deletes the messages sent more than KeepSent ago and returns how
// many. It deletes a thousand at a time, each in its own short transaction,
// so it never holds the single writer for long.
func (w *Worker) PurgeSent(ctx context.Context) (int, error) {
	before := w.opts.Now().UTC().Add(-w.opts.KeepSent)
	total := 0
	for ctx.Err() == nil {
		n, err := purgeSent(ctx, w.db, before, 1000)
		total += n
		if err != nil || n < 1000 {
			return total, err
		}
	}
	return total, ctx.Err()
}

// idleGap is the least time between the starts of two rounds when the first
// found less than a full batch.
const idleGap = 100 * time.Millisecond

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sleepUntil waits until t or ctx's end, reporting false on the latter.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// MailRenderer renders a mail template in a language; *templates.Renderer
// is one.
type MailRenderer interface {
	Mail(lang, name string, data any) (templates.Mail, error)
}

// render fills in the parts of a mail queued by template.
func (w *Worker) render(m *Message) error {
	if w.opts.Renderer == nil {
		return fmt.Errorf("render mail %q: no renderer", m.Template)
	}
	r, err := w.opts.Renderer.Mail(m.Lang, m.Template, m.Data)
	if err != nil {
		return err
	}
	m.Subject, m.Text, m.HTML = r.Subject, r.Text, r.HTML
	return nil
}

// DeliverDue runs one round: it claims up to a batch of due messages, sends
// them and records the outcomes. It returns how many messages it claimed.
// Once messages are claimed the round completes even if ctx is cancelled,
// within the lease, so a shutdown does not leave them to be sent twice.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	return w.deliverDue(ctx, w.opts.Batch)
}

func (w *Worker) deliverDue(ctx context.Context, limit int) (int, error) {
	now := w.opts.Now().UTC()
	msgs, err := claim(ctx, w.db, now, now.Add(w.opts.Lease), limit)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.Lease)
	defer cancel()

	results := make([]result, len(msgs))
	var send []Message
	var sendIdx []int
	for i, m := range msgs {
		results[i] = result{id: m.ID, attempts: m.Attempts}
		if m.Attempts > maxAttempts {
			// Claimed again and again without an outcome: a worker died on it each time.
			results[i].failed = true
			results[i].lastErr = fmt.Sprintf("no outcome recorded after %d attempts", m.Attempts-1)
			mailFailed.WithLabelValues(m.Kind).Inc()
			w.log.Warn("mail failed", slog.Int64("id", m.ID), slog.String("kind", m.Kind), slog.String("error", results[i].lastErr))
			continue
		}
		if m.Template != "" {
			if err := w.render(&m); err != nil {
				results[i].failed = true
				results[i].lastErr = err.Error()
				mailFailed.WithLabelValues(m.Kind).Inc()
				w.log.Error("mail failed", slog.Int64("id", m.ID), slog.String("kind", m.Kind), slog.Any("error", err))
				continue
			}
		}
		send = append(send, m)
		sendIdx = append(sendIdx, i)
	}

	var errs []error
	if len(send) > 0 {
		errs = w.sender.Send(ctx, send)
		if len(errs) != len(send) {
			errs = make([]error, len(send))
			for i := range errs {
				errs[i] = errors.New("sender returned a wrong number of results")
			}
		}
	}
	done := w.opts.Now().UTC()
	for j, i := range sendIdx {
		m, err := send[j], errs[j]
		r := &results[i]
		switch {
		case err == nil:
			r.sent = true
			mailSent.WithLabelValues(m.Kind).Inc()
		case IsPermanent(err) || m.Attempts >= maxAttempts:
			r.failed = true
			r.lastErr = err.Error()
			mailFailed.WithLabelValues(m.Kind).Inc()
			w.log.Warn("mail failed", slog.Int64("id", m.ID), slog.String("kind", m.Kind),
				slog.Int("attempt", m.Attempts), slog.Bool("permanent", IsPermanent(err)), slog.Any("error", err))
		default:
			r.lastErr = err.Error()
			r.retryAt = done.Add(backoff[m.Attempts-1])
			w.log.Info("mail will be retried", slog.Int64("id", m.ID), slog.String("kind", m.Kind),
				slog.Int("attempt", m.Attempts), slog.Time("retry_at", r.retryAt), slog.Any("error", err))
		}
	}
	// The messages are out: losing their outcomes would send them again after
	// the lease, so a failed write is tried a few times.
	for try := 1; ; try++ {
		_, err = record(ctx, w.db, done, results)
		if err == nil || try == 3 || !sleepUntil(ctx, time.Now().Add(time.Duration(try)*time.Second)) {
			break
		}
	}
	return len(msgs), err
}
