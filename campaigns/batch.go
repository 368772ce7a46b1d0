package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrClosed is returned by the store's writer while it shuts down: the
// request that met it may be tried again shortly.
var ErrClosed = errors.New("writer is shutting down")

// unit is one piece of work for the batcher.
type unit struct {
	// run does the work inside the batch's transaction.
	run func(ctx context.Context, tx *sql.Tx, now time.Time) error
	// group, if set, lets the unit run together with its batch-mates of
	// the same group, in one call instead of run (see group).
	group *group
	// value is what the unit's group and the batcher's hooks read of it
	// (its input, or where its results go); the batcher never looks at it.
	value any

	ctx  context.Context
	done chan error
}

// group lets units of one kind run together: one call for many units can
// cost much less than one each (a multi-row insert instead of a statement
// per row).
type group struct {
	// run does the work of units, two or more units of the group, inside
	// the batch's transaction. Its error need not say which unit caused
	// it: the batcher then rolls back and runs the group's units one by one,
	// each through its own run, for the rest of the batch.
	run func(ctx context.Context, tx *sql.Tx, units []*unit, now time.Time) error
}

// batcher is the group-committing writer. Callers hand it units of work;
// its one goroutine runs all the units waiting in one transaction and
// answers each caller once that transaction has committed: nil means the
// unit's work is on disk.
//
// There is no timer: a batch is whatever arrived while the previous one was
// committing (at most maxBatch units), so under light load a unit commits
// alone at once, and under heavy load batches grow with the fsync time.
//
// An error undoes its own unit only: the batcher rolls the transaction back
// and runs the batch again without the unit, so the error reaches its
// caller alone. A unit may therefore run more than once before its batch
// commits: it must not act outside the transaction, and whatever it sets in
// memory the next run must set afresh. A unit whose caller's context is done
// before the batch runs it is left out, and its caller gets the context's
// error. The units of a group run first, together (see group); hooks run
// after the batch's units (afterBatch) and after its commit (afterCommit).
type batcher struct {
	// afterBatch, if set, runs inside the transaction just before the
	// commit, with the units that succeeded. Its error fails the whole
	// batch.
	afterBatch func(ctx context.Context, tx *sql.Tx, done []*unit) error
	// afterCommit, if set, runs once the batch has committed, with the units
	// that succeeded, before any of their callers has its answer.
	afterCommit func(done []*unit)

	db       *sql.DB
	now      func() time.Time
	maxBatch int
	units    chan *unit
	quit     chan struct{}
	stopped  chan struct{}
}

func newBatcher(db *sql.DB, now func() time.Time) *batcher {
	b := &batcher{db: db, now: now, maxBatch: 512, units: make(chan *unit, 4096),
		quit: make(chan struct{}), stopped: make(chan struct{})}
	go b.loop()
	return b
}

// do runs u in the next batch and returns its error once the batch has
// committed (nil means its work is durable).
func (b *batcher) do(ctx context.Context, u *unit) error {
	u.ctx, u.done = ctx, make(chan error, 1)
	select {
	case <-b.quit:
		return ErrClosed
	default:
	}
	select {
	case b.units <- u:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.quit:
		return ErrClosed
	}
	return b.wait(u)
}

// wait returns the answer to the queued unit u. Once queued, the work may
// commit: it waits for the answer even if the caller has gone, so the result
// is never guessed. A unit that slipped into the queue after Close drained
// it will never run: once the writer has stopped, an answer not yet given
// never will be.
func (b *batcher) wait(u *unit) error {
	select {
	case err := <-u.done:
		return err
	case <-b.stopped:
		select {
		case err := <-u.done:
			return err
		default:
			return ErrClosed
		}
	}
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
	batch := make([]*unit, 0, b.maxBatch)
	for {
		select {
		case u := <-b.units:
			batch = append(batch[:0], u)
		case <-b.quit:
			// Finish whatever made it into the queue before stopping.
			for {
				select {
				case u := <-b.units:
					b.run([]*unit{u})
				default:
					return
				}
			}
		}
	collect:
		for len(batch) < b.maxBatch {
			select {
			case u := <-b.units:
				batch = append(batch, u)
			default:
				break collect
			}
		}
		b.run(batch)
	}
}

func (b *batcher) run(batch []*unit) {
	errs := make([]error, len(batch))
	err := b.runTx(batch, errs)
	for i, u := range batch {
		if err != nil {
			u.done <- err
		} else {
			u.done <- errs[i]
		}
	}
	batchSizes.Observe(float64(len(batch)))
}

// runTx runs the batch in one transaction. A unit of work that fails rolls
// the transaction back and the batch runs again without it, so its error
// reaches only its own caller. Failures are rare (a row that breaks a
// constraint), so this costs less than a savepoint around every unit, which
// SQLite would have to parse and run three statements for.
func (b *batcher) runTx(batch []*unit, errs []error) error {
	alone := map[*group]bool{} // groups whose units now run one by one
	for {
		again, err := b.try(batch, errs, alone)
		if err != nil || !again {
			return err
		}
	}
}

// try runs every unit that has no error yet in one transaction and commits.
// It returns again after rolling back because a unit failed (its error is
// now in errs) or a group failed together (it is now in alone): the batch
// must then run again.
func (b *batcher) try(batch []*unit, errs []error, alone map[*group]bool) (again bool, err error) {
	ctx := context.Background()
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin batch: %w", err)
	}
	defer tx.Rollback()
	now := b.now()
	for i, u := range batch {
		if errs[i] == nil {
			errs[i] = u.ctx.Err()
		}
	}
	// Each group's units run first, together in one call.
	together := make([]bool, len(batch))
	for i, u := range batch {
		g := u.group
		if g == nil || alone[g] || together[i] || errs[i] != nil {
			continue
		}
		var members []*unit
		for k := i; k < len(batch); k++ {
			if batch[k].group == g && errs[k] == nil {
				members = append(members, batch[k])
				together[k] = true
			}
		}
		if len(members) == 1 {
			together[i] = false // a lone unit runs on its own, as any other
			continue
		}
		if err := g.run(ctx, tx, members, now); err != nil {
			alone[g] = true
			return true, nil
		}
	}
	for i, u := range batch {
		if together[i] || errs[i] != nil {
			continue
		}
		if err := u.run(ctx, tx, now); err != nil {
			errs[i] = err
			return true, nil
		}
	}
	var done []*unit
	if b.afterBatch != nil || b.afterCommit != nil {
		done = make([]*unit, 0, len(batch))
		for i, u := range batch {
			if errs[i] == nil {
				done = append(done, u)
			}
		}
	}
	if b.afterBatch != nil {
		if err := b.afterBatch(ctx, tx, done); err != nil {
			return false, fmt.Errorf("end batch: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit batch: %w", err)
	}
	if b.afterCommit != nil {
		b.afterCommit(done)
	}
	return false, nil
}
