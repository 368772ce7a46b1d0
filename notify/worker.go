package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/rallyhq/rally/templates"
)

// WorkerOptions configure a Worker. Zero values get the defaults.
type WorkerOptions struct {
	// Rate is how many messages per second to send (RALLY_MAIL_RATE),
	// shared by all connections; 0 means no limit.
	Rate float64
	// Conns is how many messages are sent at once (RALLY_SMTP_CONNS), each
	// on a connection of its own (default 1).
	Conns int
	// Lease is how long a claimed message stays reserved for this worker
	// before another may take it (default 5 minutes). The worker renews
	// the leases of a batch while it is still sending it.
	Lease time.Duration
	// Batch is the most messages claimed at once (default 50, or 32 per
	// connection if that is more).
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
	// SuppressionKey, if set, returns an address's SuppressionKey: bulk
	// mail to an address on the suppression list is then failed unsent.
	SuppressionKey func(addr string) string
	// Blasts renders blast messages and says which addresses are
	// suppressed; without it blast messages fail.
	Blasts *Blasts
}

// Worker delivers the outbox. It claims due messages in batches with a
// lease, hands them to the sender one at a time from Conns goroutines at the
// shared Rate, outside any transaction, and records the outcomes as they
// come (within 200 ms, up to 32 in a short transaction of their own), so it
// holds the single writer only briefly and never while talking to a mail
// server. It renews the leases of the messages still waiting while a batch
// is sent, however slow the relay.
//
// A recipient's refusal is the message's: a 5xx fails it, a 4xx retries it
// later (see backoff). A relay that cannot be reached, refuses the sender or
// the login, or is busy is the worker's problem, not the messages': they
// keep their attempts, and the worker waits 1 s, 2 s, 4 s … up to 5 minutes
// between tries, logging once when the relay goes down and once when it
// comes back.
//
// Delivery is at least once, and every outcome is recorded. A worker that
// dies mid-send leaves its claimed messages to be sent when their leases
// run out; of those, only the ones in flight can have been delivered
// already and so be sent twice: at most one per connection that the relay
// was receiving or answering, plus the accepted messages whose outcomes were
// not yet written, which are at most 2 × 32 (one write in progress and the
// next one waiting; a sender waits rather than let more pile up).
type Worker struct {
	db     *sql.DB
	sender Sender
	opts   WorkerOptions
	kick   chan struct{}
	log    *slog.Logger

	pace  pacer
	relay relayState
	// sleep waits until a time of opts.Now's clock, or ctx's end; tests
	// replace it to move their clock instead.
	sleep func(ctx context.Context, until time.Time) bool
}

// NewWorker returns a worker that claims messages through writer (the single
// writer pool) and delivers them with s.
func NewWorker(writer *sql.DB, s Sender, opts WorkerOptions) *Worker {
	if opts.Lease <= 0 {
		opts.Lease = 5 * time.Minute
	}
	if opts.Conns <= 0 {
		opts.Conns = 1
	}
	if opts.Batch <= 0 {
		// Thirty-two messages a connection at least: the round's last
		// wave, which leaves connections idle, and the two writes between
		// rounds (the last outcomes, the next claim) are then a small part
		// of it. Sixteen measured a tenth slower on a 100,000-mail blast.
		// With a rate, a round is a second's worth at most (batchSize).
		opts.Batch = max(50, 32*opts.Conns)
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
	w := &Worker{db: writer, sender: s, opts: opts, kick: make(chan struct{}, 1), log: l.With(slog.String("component", "mail"))}
	if opts.Rate > 0 {
		w.pace.interval = time.Duration(float64(time.Second) / opts.Rate)
	}
	w.sleep = func(ctx context.Context, until time.Time) bool {
		return sleepUntil(ctx, time.Now().Add(until.Sub(w.opts.Now())))
	}
	return w
}

// Kick wakes an idle worker, for when a message was just queued. It never
// blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// batchSize keeps a batch to about a second's worth of sending, so that
// what is claimed is soon sent.
func (w *Worker) batchSize() int {
	n := w.opts.Batch
	if w.opts.Rate > 0 && float64(n) > w.opts.Rate {
		n = max(int(w.opts.Rate), 1)
	}
	return n
}

// Run delivers messages until ctx is cancelled, then returns nil once the
// messages in flight have been sent and every outcome recorded. Database
// errors are logged and retried after Poll. When it returns, it closes the
// sender's idle connections.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info("mail worker started", slog.Any("sender", w.sender), slog.Float64("rate", w.opts.Rate), slog.Int("conns", w.opts.Conns))
	defer w.log.Info("mail worker stopped")
	if c, ok := w.sender.(interface{ CloseIdle() }); ok {
		defer c.CloseIdle()
	}
	if n, err := releaseLeases(ctx, w.db, w.opts.Now().UTC()); err != nil {
		w.log.Error("release mail leases", slog.Any("error", err))
	} else if n > 0 {
		w.log.Info("mail claimed before a restart is due again", slog.Int("messages", n))
	}
	var next time.Time      // the earliest start of the next round
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
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.log.Error("deliver mail", slog.Any("error", err))
		}
		if wait, ok := w.relayWait(w.opts.Now()); ok {
			// The relay is down: new mail does not hurry the next try.
			next = time.Now().Add(wait)
			continue
		}
		if err != nil || n < w.batchSize() {
			// Nothing more is due: wait for a kick, a new message or the next
			// poll. While signings pour in, wake-ups come constantly; the gap
			// gathers them into fuller batches, so claims stay few.
			next = start.Add(idleGap)
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

// pacer spaces messages to keep a rate, across all the goroutines that
// send: each takes the next free slot.
type pacer struct {
	interval time.Duration // 0: no limit

	mu   sync.Mutex
	next time.Time // the next free slot
}

// slot reserves the next slot at or after now and returns its time.
func (p *pacer) slot(now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := later(p.next, now)
	p.next = t.Add(p.interval)
	return t
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
// While the relay is down it claims nothing until the wait is over. Once
// messages are claimed the round completes even if ctx is cancelled: the
// messages in flight are sent and recorded, and those not yet started are
// given back, due at once and with their attempts as they were.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	return w.deliverDue(ctx, w.opts.Batch)
}

// recordBatch is the most outcomes written in one transaction, and how many
// may wait for the next write before the senders wait too.
const recordBatch = 32

// round is one claimed batch on its way out.
type round struct {
	w     *Worker
	msgs  []Message
	queue chan int    // indexes into msgs of the messages to send
	out   chan result // outcomes for the recorder

	mu       sync.Mutex
	pending  map[int64]int  // id → attempts: claimed, no outcome yet
	lost     map[int64]bool // claimed again by another worker after our lease ran out
	renewAt  time.Time      // when the leases are next renewed
	reached  bool           // the relay answered about some message
	trouble  *relayError    // the first relay failure
	stop     bool           // a sender panicked: start no more messages
	panicked any
}

func (w *Worker) deliverDue(ctx context.Context, limit int) (int, error) {
	now := w.opts.Now().UTC()
	if _, waiting := w.relayWait(now); waiting {
		return 0, nil
	}
	msgs, err := claim(ctx, w.db, now, now.Add(w.opts.Lease), limit)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	for i := range msgs {
		if msgs[i].Template == blastTemplate {
			msgs[i].delivery, _ = strconv.ParseInt(msgs[i].Data["delivery"], 10, 64)
		}
	}
	rd := &round{w: w, msgs: msgs, queue: make(chan int, len(msgs)), out: make(chan result, recordBatch),
		pending: make(map[int64]int, len(msgs)), lost: map[int64]bool{}, renewAt: now.Add(w.opts.Lease / 3)}
	for _, m := range msgs {
		rd.pending[m.ID] = m.Attempts
	}
	recorded := make(chan error, 1)
	go func() { recorded <- w.recordAll(rd.out) }()

	blastSuppressed := w.blastsSuppressed(ctx, msgs)
	suppressed, listRead := w.suppressed(ctx, msgs)
	for i := range msgs {
		m := &msgs[i]
		if blastSuppressed[m.ID] || (suppressed[m.ID] && m.Template == blastTemplate) {
			rd.finish(*m, result{failed: true, suppressed: true, lastErr: "suppressed: the address unsubscribed, bounced or asked for no campaign mail"})
			continue
		}
		if suppressed[m.ID] {
			rd.finish(*m, result{failed: true, lastErr: "suppressed: the address asked for no campaign mail"})
			continue
		}
		if !listRead && m.Priority == Bulk {
			rd.finish(*m, result{released: true, retryAt: now.Add(time.Minute), lastErr: "suppression list unreadable"})
			continue
		}
		if m.Attempts > maxAttempts {
			// Claimed again and again without an outcome: a worker died on it each time.
			err := fmt.Errorf("no outcome recorded after %d attempts", m.Attempts-1)
			w.log.Warn("mail failed", slog.Int64("id", m.ID), slog.String("kind", m.Kind), slog.Any("error", err))
			rd.finish(*m, result{failed: true, lastErr: err.Error()})
			continue
		}
		if m.Template == blastTemplate {
			if err := w.renderBlast(ctx, m); err != nil {
				if !IsPermanent(err) && m.Attempts < maxAttempts {
					w.log.Error("render blast mail", slog.Int64("id", m.ID), slog.Any("error", err))
					rd.release(*m, err)
					continue
				}
				w.log.Error("mail failed", slog.Int64("id", m.ID), slog.String("kind", m.Kind), slog.Any("error", err))
				rd.finish(*m, result{failed: true, lastErr: err.Error()})
				continue
			}
		} else if m.Template != "" {
			if err := w.render(m); err != nil {
				w.log.Error("mail failed", slog.Int64("id", m.ID), slog.String("kind", m.Kind), slog.Any("error", err))
				rd.finish(*m, result{failed: true, lastErr: err.Error()})
				continue
			}
		}
		rd.queue <- i
	}
	close(rd.queue)

	// A backstop for senders that take longer than a third of the lease
	// over one message; otherwise each sender renews between messages.
	stopRenewing := make(chan struct{})
	renewing := make(chan struct{})
	go func() {
		defer close(renewing)
		t := time.NewTicker(w.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-stopRenewing:
				return
			case <-t.C:
				rd.renewIfDue()
			}
		}
	}()

	var wg sync.WaitGroup
	for range min(w.opts.Conns, len(msgs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					rd.mu.Lock()
					rd.stop = true
					if rd.panicked == nil {
						rd.panicked = p
					}
					rd.mu.Unlock()
				}
			}()
			rd.send(ctx)
		}()
	}
	wg.Wait()
	close(stopRenewing)
	<-renewing
	// What no sender started goes back, due at once.
	for i := range rd.queue {
		rd.release(msgs[i], nil)
	}
	close(rd.out)
	err = <-recorded
	if rd.panicked != nil {
		panic(rd.panicked)
	}
	done := w.opts.Now().UTC()
	switch {
	case rd.reached:
		w.relayReached(done)
	case rd.trouble != nil:
		w.relayFailed(done, rd.trouble)
	}
	return len(msgs), err
}

// suppressed returns the claimed bulk messages whose address is on the
// suppression list; transactional mail, which a person's own act asked
// for, is never held back. If the list cannot be read, nothing is sent
// that might be suppressed: the bulk messages are given back for later.
func (w *Worker) suppressed(ctx context.Context, msgs []Message) (suppressed map[int64]bool, read bool) {
	if w.opts.SuppressionKey == nil {
		return nil, true
	}
	byHash := map[string][]int64{}
	var hashes []string
	for _, m := range msgs {
		if m.Priority != Bulk {
			continue
		}
		h := w.opts.SuppressionKey(m.To)
		if _, ok := byHash[h]; !ok {
			hashes = append(hashes, h)
		}
		byHash[h] = append(byHash[h], m.ID)
	}
	if len(hashes) == 0 {
		return nil, true
	}
	found, err := suppressedAmong(ctx, w.db, AllCauses, hashes)
	if err != nil {
		w.log.Warn("read suppressions", slog.Any("error", err))
		return nil, false
	}
	out := map[int64]bool{}
	for h, ids := range byHash {
		if found[h] {
			for _, id := range ids {
				out[id] = true
			}
		}
	}
	return out, true
}

// send delivers messages from the queue until it is empty, the relay fails,
// or ctx ends.
func (rd *round) send(ctx context.Context) {
	w := rd.w
	for i := range rd.queue {
		m := rd.msgs[i]
		if ctx.Err() != nil || rd.stopped() {
			rd.release(m, nil)
			return
		}
		if w.pace.interval > 0 && !w.sleep(ctx, w.pace.slot(w.opts.Now())) {
			rd.release(m, nil)
			return
		}
		rd.renewIfDue()
		if rd.isLost(m.ID) {
			continue
		}
		errs := w.sender.Send(ctx, []Message{m})
		err := errors.New("sender returned no result")
		if len(errs) == 1 {
			err = errs[0]
		}
		var re *relayError
		isRelay := errors.As(err, &re)
		switch {
		case err == nil:
			rd.answered()
			rd.finish(m, result{sent: true})
			mailSent.WithLabelValues(m.Kind).Inc()
		case ctx.Err() != nil && (isRelay || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
			// Stopped while connecting, or before it started: not the relay's fault.
			rd.release(m, nil)
			return
		case isRelay:
			relayErrors.WithLabelValues(re.kind).Inc()
			rd.failRelay(re)
			rd.release(m, err)
			return
		default:
			if relayAnswered(err) {
				rd.answered()
			}
			rd.finish(m, w.failure(m, err))
		}
	}
}

// failure is the outcome of a message the relay would not take, or that
// could not be handed over.
func (w *Worker) failure(m Message, err error) result {
	r := result{lastErr: err.Error()}
	if IsPermanent(err) || m.Attempts >= maxAttempts {
		r.failed = true
		r.bounced = m.delivery > 0 && IsPermanent(err) && isBounce(err)
		mailFailed.WithLabelValues(m.Kind).Inc()
		w.log.Warn("mail failed", slog.Int64("id", m.ID), slog.String("kind", m.Kind),
			slog.Int("attempt", m.Attempts), slog.Bool("permanent", IsPermanent(err)), slog.Any("error", err))
		return r
	}
	r.retryAt = w.opts.Now().UTC().Add(backoff[m.Attempts-1])
	w.log.Info("mail will be retried", slog.Int64("id", m.ID), slog.String("kind", m.Kind),
		slog.Int("attempt", m.Attempts), slog.Time("retry_at", r.retryAt), slog.Any("error", err))
	return r
}

// relayAnswered reports whether err carries the relay's reply about the
// message, which shows the relay is up.
func relayAnswered(err error) bool {
	var se *gomail.SendError
	return errors.As(err, &se) && se.ErrorCode() != 0
}

// finish hands a message's outcome to the recorder.
func (rd *round) finish(m Message, r result) {
	rd.mu.Lock()
	delete(rd.pending, m.ID)
	rd.mu.Unlock()
	r.id, r.attempts, r.delivery = m.ID, m.Attempts, m.delivery
	rd.out <- r
}

// release gives a message back untried, due at once, with the claim's
// attempt undone. Its last error becomes cause, or else the relay's failure
// that kept it from being tried, if any.
func (rd *round) release(m Message, cause error) {
	r := result{released: true, retryAt: rd.w.opts.Now().UTC()}
	if cause == nil {
		rd.mu.Lock()
		if rd.trouble != nil {
			cause = rd.trouble
		}
		rd.mu.Unlock()
	}
	if cause != nil {
		r.lastErr = cause.Error()
	}
	rd.finish(m, r)
}

func (rd *round) answered() {
	rd.mu.Lock()
	rd.reached = true
	rd.mu.Unlock()
}

func (rd *round) failRelay(err *relayError) {
	rd.mu.Lock()
	if rd.trouble == nil {
		rd.trouble = err
	}
	rd.mu.Unlock()
}

func (rd *round) stopped() bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.stop
}

func (rd *round) isLost(id int64) bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.lost[id]
}

// renewIfDue extends the leases of the messages without an outcome yet,
// once a third of the lease has passed since the claim or the last renewal.
// Those it cannot extend were claimed by another worker after the lease ran
// out: this one drops them.
func (rd *round) renewIfDue() {
	w := rd.w
	now := w.opts.Now().UTC()
	rd.mu.Lock()
	if now.Before(rd.renewAt) {
		rd.mu.Unlock()
		return
	}
	rd.renewAt = now.Add(w.opts.Lease / 3)
	leases := make([]lease, 0, len(rd.pending))
	for id, a := range rd.pending {
		leases = append(leases, lease{id: id, attempts: a})
	}
	rd.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	lost, err := renew(ctx, w.db, now.Add(w.opts.Lease), leases)
	if err != nil {
		w.log.Error("renew mail leases", slog.Any("error", err))
		return
	}
	rd.mu.Lock()
	n := 0
	for _, id := range lost {
		if _, ok := rd.pending[id]; ok {
			delete(rd.pending, id)
			rd.lost[id] = true
			n++
		}
	}
	rd.mu.Unlock()
	if n > 0 {
		w.log.Warn("mail leases lost to another worker", slog.Int("messages", n))
	}
}

// recordTimeout bounds one write of outcomes or leases. It is the write's
// own: however long sending took, recording has this long.
const recordTimeout = 30 * time.Second

// recordEvery is the longest an outcome waits for others to be written
// with: at a rate of 50 a second, writing each alone would take the single
// writer 50 times a second, which signing needs.
const recordEvery = 200 * time.Millisecond

// recordAll writes the outcomes it receives until in is closed, recordBatch
// at a time, or fewer once the first has waited recordEvery. It returns the
// first error.
func (w *Worker) recordAll(in <-chan result) error {
	var firstErr error
	buf := make([]result, 0, recordBatch)
	timer := time.NewTimer(recordEvery)
	timer.Stop()
	defer timer.Stop()
	flush := func() {
		timer.Stop()
		if len(buf) == 0 {
			return
		}
		if err := w.recordResults(buf); err != nil && firstErr == nil {
			firstErr = err
		}
		buf = buf[:0]
	}
	for {
		select {
		case r, ok := <-in:
			if !ok {
				flush()
				return firstErr
			}
			buf = append(buf, r)
			if len(buf) == 1 {
				timer.Reset(recordEvery)
			}
			if len(buf) == recordBatch {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

// recordResults writes outcomes. The messages are out: losing their
// outcomes would send them again after the lease, so a failed write is
// tried a few times.
func (w *Worker) recordResults(results []result) error {
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
		_, err := record(ctx, w.db, w.opts.Now().UTC(), results)
		cancel()
		if err == nil && w.opts.Blasts != nil {
			// Room in the blasts' window: the fan-out may feed more.
			w.opts.Blasts.Kick()
		}
		if err == nil || try == 3 {
			return err
		}
		time.Sleep(time.Duration(try) * time.Second)
	}
}
