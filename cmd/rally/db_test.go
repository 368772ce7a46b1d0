package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The checkpointer copies the WAL into the database file while writes come
// in, so the writer, which would only do it at 4,000 pages, need not.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	dir := t.TempDir()
	w, r, err := openDB(dir, "full")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	var pages int
	if err := w.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil || pages != writerWALPages {
		t.Fatalf("writer's wal_autocheckpoint = %d, %v; want %d", pages, err, writerWALPages)
	}
	if _, err := w.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { checkpoints(ctx, dir, "full"); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	// About 400 KB in a few hundred pages: far below the writer's own
	// threshold, so only the checkpointer can put it in the database file.
	for range 200 {
		if _, err := w.Exec(`INSERT INTO t (v) VALUES (?)`, strings.Repeat("x", 2000)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "rally.db")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= 400_000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file of %d bytes after 5 s: the WAL was not copied into it", fi.Size())
		}
	}
}
