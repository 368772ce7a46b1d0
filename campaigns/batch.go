package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// errClosed is returned by a batcher that is shutting down.
var errClosed = errors.New("writer is shutting down")

// txFunc is one unit of work in a shared transaction. An error undoes its
// work only, never its batch-mates' (see runTx). It may run more than once
// before its batch commits, so it must not act outside the transaction.
type txFunc func(ctx context.Context, tx *sql.Tx, now time.Time) error

type job struct {
	ctx  context.Context
	fn   txFunc
	done chan error
	// A signing may also run with its batch-mates through signMany; fn is
	// its way alone.
	sign    *Signing
	outcome *SignOutcome
	// counts is the cause whose signature count this unit moves by one, set
	// by fn; the batch writes each cause's count once (see try).
	counts int64
}

// batcher is the group-committing writer. Requests hand their work to one
// goroutine, which runs everything that is waiting in one transaction and
// answers each request after the commit. There is no timer: a batch is
// whatever arrived while the previous commit was being written, so under
// light load a request commits alone at once, and under heavy load batches
// grow with the fsync time.
type batcher struct {
	// signMany writes the batch's signings together; see try.
	signMany func(ctx context.Context, tx *sql.Tx, sgs []*Signing, now time.Time) ([]SignOutcome, error)
	// counted hears of the counts a batch moved, once it has committed and
	// before any of its requests has its answer.
	counted  func(causeID, n int64)
	db       *sql.DB
	now      func() time.Time
	maxBatch int
	jobs     chan *job
	quit     chan struct{}
	stopped  chan struct{}
}

func newBatcher(db *sql.DB, now func() time.Time) *batcher {
	b := &batcher{db: db, now: now, maxBatch: 512, jobs: make(chan *job, 4096),
		quit: make(chan struct{}), stopped: make(chan struct{})}
	go b.loop()
	return b
}

// do runs j in the next batch and returns its error once the batch has
// committed (nil means its work is durable).
func (b *batcher) do(ctx context.Context, j *job) error {
	j.ctx, j.done = ctx, make(chan error, 1)
	select {
	case <-b.quit:
		return errClosed
	default:
	}
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.quit:
		return errClosed
	}
	// Once queued, the work may commit: wait for the answer even if the
	// caller has gone, so the result is never guessed.
	return <-j.done
}

// Close finishes what is queued and stops the writer goroutine.
func (b *batcher) Close() {
	select {
	case <-b.quit:
	default:
		close(b.quit)
	}
	<-b.stopped
}

func (b *batcher) loop() {
	defer close(b.stopped)
	batch := make([]*job, 0, b.maxBatch)
	for {
		select {
		case j := <-b.jobs:
			batch = append(batch[:0], j)
		case <-b.quit:
			// Finish whatever made it into the queue before stopping.
			for {
				select {
				case j := <-b.jobs:
					b.run([]*job{j})
				default:
					return
				}
			}
		}
	collect:
		for len(batch) < b.maxBatch {
			select {
			case j := <-b.jobs:
				batch = append(batch, j)
			default:
				break collect
			}
		}
		b.run(batch)
	}
}

func (b *batcher) run(batch []*job) {
	errs := make([]error, len(batch))
	err := b.runTx(batch, errs)
	for i, j := range batch {
		if err != nil {
			j.done <- err
		} else {
			j.done <- errs[i]
		}
	}
	batchSizes.Observe(float64(len(batch)))
}

// runTx runs the batch in one transaction. A unit of work that fails rolls
// the transaction back and the batch runs again without it, so its error
// reaches only its own request. Failures are rare (a row that breaks a
// constraint), so this costs less than a savepoint around every unit, which
// SQLite would have to parse and run three statements for.
func (b *batcher) runTx(batch []*job, errs []error) error {
	ctx := context.Background()
	together := true
	for {
		// try marks the unit that failed, so the next round leaves it out.
		failed, err := b.try(ctx, batch, errs, together)
		if err == errTogether {
			// A signing in the batch broke the shared insert: run each alone
			// to find it.
			together = false
			continue
		}
		if err != nil || failed < 0 {
			return err
		}
	}
}

// errTogether says the batch's signings failed when written together.
var errTogether = errors.New("signings failed together")

// try runs every unit that has no error yet in one transaction and commits.
// It returns the index of the first unit that failed (after rolling back),
// or -1 once the batch has committed.
func (b *batcher) try(ctx context.Context, batch []*job, errs []error, together bool) (int, error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("begin batch: %w", err)
	}
	defer tx.Rollback()
	now := b.now()
	done := make([]bool, len(batch)) // written together by signMany
	if together && b.signMany != nil {
		var signed []int
		var sgs []*Signing
		for i, j := range batch {
			if errs[i] == nil && j.sign != nil && j.ctx.Err() == nil {
				signed = append(signed, i)
				sgs = append(sgs, j.sign)
			}
		}
		if len(sgs) > 1 {
			outcomes, err := b.signMany(ctx, tx, sgs, now)
			if err != nil {
				return -1, errTogether
			}
			for k, i := range signed {
				*batch[i].outcome = outcomes[k]
				done[i] = true
			}
		}
	}
	for i, j := range batch {
		if errs[i] != nil || done[i] {
			continue
		}
		if err := j.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if err := j.fn(ctx, tx, now); err != nil {
			errs[i] = err
			return i, nil
		}
	}
	// Counts move once per cause per batch: a viral cause's row is written
	// once a commit, not once a confirmation.
	moves := map[int64]int64{}
	for i, j := range batch {
		if errs[i] == nil && j.counts != 0 {
			moves[j.counts]++
		}
	}
	for causeID, n := range moves {
		if _, err := tx.ExecContext(ctx, `UPDATE causes SET signature_count = signature_count + ? WHERE id = ?`, n, causeID); err != nil {
			return -1, fmt.Errorf("move counts: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return -1, fmt.Errorf("commit batch: %w", err)
	}
	if b.counted != nil {
		for causeID, n := range moves {
			b.counted(causeID, n)
		}
	}
	return -1, nil
}
