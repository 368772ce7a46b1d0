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

// txFunc is one unit of work in a shared transaction. It runs inside its own
// savepoint: an error rolls back its work only, never its batch-mates'.
type txFunc func(ctx context.Context, tx *sql.Tx, now time.Time) error

type job struct {
	ctx  context.Context
	fn   txFunc
	done chan error
}

// batcher is the group-committing writer. Requests hand their work to one
// goroutine, which runs everything that is waiting in one transaction and
// answers each request after the commit. There is no timer: a batch is
// whatever arrived while the previous commit was being written, so under
// light load a request commits alone at once, and under heavy load batches
// grow with the fsync time.
type batcher struct {
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

// Do runs fn in the next batch and returns its error once the batch has
// committed (nil means fn's work is durable).
func (b *batcher) Do(ctx context.Context, fn txFunc) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan error, 1)}
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

func (b *batcher) runTx(batch []*job, errs []error) error {
	ctx := context.Background()
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin batch: %w", err)
	}
	defer tx.Rollback()
	now := b.now()
	single := len(batch) == 1
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if single {
			if errs[i] = j.fn(ctx, tx, now); errs[i] != nil {
				return errs[i]
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		if errs[i] = j.fn(ctx, tx, now); errs[i] != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO job"); err != nil {
				return fmt.Errorf("rollback to savepoint: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE job"); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit batch: %w", err)
	}
	return nil
}
