// Package dbtest opens the database for tests, as Rally opens it. It is
// apart from package database so that the rally binary does not link the
// testing package.
package dbtest

import (
	"context"
	"database/sql"
	"testing"

	"github.com/rallyhq/rally/cmd/rally/database"
)

// Open opens the writer and the reader pool on a new database file
// under t.TempDir(), with production's DSN (synchronous=FULL), applies the
// given migration sets in order (with none, the file stays empty), and
// closes both pools when the test ends.
// It is every package's test opener: never a mock, never :memory:.
func Open(t testing.TB, sets ...database.Set) (writer, reader *sql.DB) {
	t.Helper()
	writer, reader, err := database.Open(t.TempDir(), "full")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		reader.Close()
		writer.Close()
	})
	if len(sets) == 0 {
		return writer, reader
	}
	if _, err := database.Migrate(context.Background(), writer, sets...); err != nil {
		t.Fatal(err)
	}
	return writer, reader
}
