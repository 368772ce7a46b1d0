package campaigns

import (
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

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

	prepMu sync.Mutex
	queue  *notify.Queue
	many   *manyStatements

	mails *mailLimit // signing mails per address a day
}

// NewStore returns a Store writing through writer and reading through reader.
// Call Close when done with it.
func NewStore(writer, reader *sql.DB) *Store {
	s := &Store{w: writer, r: reader, now: func() time.Time { return time.Now().UTC() }, mails: newMailLimit()}
	s.batch = newBatcher(writer, func() time.Time { return s.now() })
	s.batch.signMany = s.signMany
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

// isUnique reports whether err is a UNIQUE or PRIMARY KEY constraint violation.
func isUnique(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	return false
}

// isBusy reports whether err is SQLite saying the database is locked or busy.
func isBusy(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return false
}
