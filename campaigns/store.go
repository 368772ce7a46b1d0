package campaigns

import (
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"sync"
	"time"

	"github.com/rallyhq/rally/notify"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the package's numbered .sql migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

// ErrNotFound is returned when a row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write would break a uniqueness rule.
var ErrConflict = errors.New("conflict")

// Store holds all of the package's SQL. Writes go through the single writer
// connection; reads use the reader pool.
type Store struct {
	w     *sql.DB
	r     *sql.DB
	now   func() time.Time
	batch *batcher
	// signings lets a batch's signings be written together (signTogether).
	signings *group

	prepMu sync.Mutex
	queue  *notify.Queue
	many   *manyStatements

	mails *mailLimit // signing mails per address a day

	watchMu  sync.RWMutex
	watchers []func(Change)
}

// Change says that what the public sees of a cause (its page, its JSON,
// the home page listing it) changed.
type Change struct {
	// CauseID is the cause; 0 means any cause may have changed.
	CauseID int64
	// Confirmed, when above 0, says that only the cause's count moved, by
	// that many confirmations.
	Confirmed int64
}

// OnChange registers fn to hear of every change to what the public sees
// of a cause, once the write that made it has committed and before the
// writer's caller has its answer, so a page cache that forgets what fn
// names never shows older data to someone who has seen the change made.
// Every write of the Store that changes a cause's visible state says so
// (edits, status changes, closing causes past their end, confirmations,
// once per group commit); writes made elsewhere say so through
// CausesChanged. fn must be quick and must not call the Store.
func (s *Store) OnChange(fn func(Change)) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	s.watchers = append(s.watchers, fn)
}

// CausesChanged tells OnChange's listeners that what any cause shows may
// have changed through a write the Store did not make: a donation, or a
// refund, the Stripe webhook recorded.
func (s *Store) CausesChanged() { s.changed(Change{}) }

func (s *Store) changed(ch Change) {
	s.watchMu.RLock()
	defer s.watchMu.RUnlock()
	for _, fn := range s.watchers {
		fn(ch)
	}
}

// NewStore returns a Store writing through writer and reading through reader.
// Call Close when done with it.
func NewStore(writer, reader *sql.DB) *Store {
	s := &Store{w: writer, r: reader, now: func() time.Time { return time.Now().UTC() }, mails: newMailLimit()}
	s.batch = newBatcher(writer, func() time.Time { return s.now() })
	s.batch.afterBatch, s.batch.afterCommit = s.moveCounts, s.countsMoved
	s.signings = &group{run: s.signTogether}
	return s
}

// Close finishes queued writes and stops the group-commit writer.
func (s *Store) Close() {
	s.batch.Close()
	s.prepMu.Lock()
	defer s.prepMu.Unlock()
	if s.queue != nil {
		s.queue.Close()
	}
	if s.many != nil {
		s.many.close()
	}
}

// SetClock replaces the store's clock; tests use it.
func (s *Store) SetClock(now func() time.Time) { s.now = now }
