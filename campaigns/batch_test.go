package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
)

// newTestBatcher returns a batcher on a fresh database file that has a
// table of the test's own, items, with the database's two pools.
func newTestBatcher(t *testing.T) (b *batcher, writer, reader *sql.DB) {
	t.Helper()
	writer, reader = mustOpenDB(t)
	if _, err := writer.Exec(`CREATE TABLE items (name TEXT PRIMARY KEY CHECK (name <> ''))`); err != nil {
		t.Fatal(err)
	}
	b = newBatcher(writer, func() time.Time { return time.Now().UTC() })
	t.Cleanup(b.Close)
	return b, writer, reader
}

// insert returns a unit that inserts name into items; name is its value.
func insert(name string) *unit {
	return &unit{value: name, run: func(ctx context.Context, tx *sql.Tx, _ time.Time) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO items (name) VALUES (?)`, name)
		return err
	}}
}

// inserts returns n units inserting prefix0, prefix1 …
func inserts(prefix string, n int) []*unit {
	units := make([]*unit, n)
	for i := range units {
		units[i] = insert(prefix + strconv.Itoa(i))
	}
	return units
}

// names returns the values of units that are names, sorted.
func names(units []*unit) []string {
	var out []string
	for _, u := range units {
		if name, ok := u.value.(string); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// items returns the names in items, sorted.
func items(t *testing.T, db *sql.DB) []string {
	t.Helper()
	out, err := readItems(db)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readItems(db *sql.DB) ([]string, error) {
	rows, err := db.Query(`SELECT name FROM items ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// holdWriter keeps b's goroutine busy with a unit of its own until release
// is called, so that the units queued meanwhile wait, then run together in
// the next batch. release(n) first waits until n units are queued.
func holdWriter(t *testing.T, b *batcher) (release func(queued int)) {
	t.Helper()
	running, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	held := make(chan error, 1)
	go func() {
		held <- b.do(context.Background(), &unit{run: func(context.Context, *sql.Tx, time.Time) error {
			once.Do(func() { close(running) })
			<-resume
			return nil
		}})
	}()
	<-running
	return func(queued int) {
		t.Helper()
		for len(b.units) < queued {
			runtime.Gosched()
		}
		close(resume)
		if err := <-held; err != nil {
			t.Errorf("holding unit: %v", err)
		}
	}
}

// doAll hands each unit to b from a goroutine of its own, as concurrent
// requests do, and returns a function that waits for their answers.
func doAll(ctx context.Context, b *batcher, units []*unit) (wait func() []error) {
	errs := make([]error, len(units))
	var wg sync.WaitGroup
	for i, u := range units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.do(ctx, u)
		}()
	}
	return func() []error {
		wg.Wait()
		return errs
	}
}

// Units queued while the writer is busy share its next transaction, and
// the after-batch hook sees each of them.
func TestBatcherSharesTransaction(t *testing.T) {
	b, w, _ := newTestBatcher(t)
	var mu sync.Mutex
	var sizes []int
	var seen [][]string
	b.afterBatch = func(_ context.Context, _ *sql.Tx, done []*unit) error {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(done))
		seen = append(seen, names(done))
		return nil
	}
	const n = 20
	units := inserts("item", n)
	txs := make([]*sql.Tx, n)
	for i, u := range units {
		run := u.run
		u.run = func(ctx context.Context, tx *sql.Tx, now time.Time) error {
			txs[i] = tx
			return run(ctx, tx, now)
		}
	}
	release := holdWriter(t, b)
	wait := doAll(context.Background(), b, units)
	release(n)
	for i, err := range wait() {
		if err != nil {
			t.Errorf("unit %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{1, n}; !slices.Equal(sizes, want) {
		t.Fatalf("batch sizes %v, want %v: the held unit alone, then every unit queued behind it", sizes, want)
	}
	if got, want := seen[1], names(units); !slices.Equal(got, want) {
		t.Errorf("after-batch hook saw %q, want %q", got, want)
	}
	for i, tx := range txs {
		if tx != txs[0] {
			t.Errorf("unit %d ran in another transaction than unit 0", i)
		}
	}
	if got, want := items(t, w), names(units); !slices.Equal(got, want) {
		t.Errorf("items %q, want %q", got, want)
	}
}

// A unit that fails undoes its own work only: its batch-mates commit, and
// the after-batch hook does not see it.
func TestBatcherFailureUndoesOnlyItsUnit(t *testing.T) {
	b, w, _ := newTestBatcher(t)
	var seen []string
	b.afterBatch = func(_ context.Context, _ *sql.Tx, done []*unit) error {
		seen = names(done)
		return nil
	}
	errRefused := errors.New("refused")
	good := inserts("good", 10)
	bad := insert("half done")
	run := bad.run
	bad.run = func(ctx context.Context, tx *sql.Tx, now time.Time) error {
		if err := run(ctx, tx, now); err != nil {
			return err
		}
		return errRefused
	}
	units := append(slices.Clone(good[:5]), bad)
	units = append(units, good[5:]...)
	release := holdWriter(t, b)
	wait := doAll(context.Background(), b, units)
	release(len(units))
	for i, err := range wait() {
		if units[i] == bad {
			if !errors.Is(err, errRefused) {
				t.Errorf("failing unit: err = %v, want %v", err, errRefused)
			}
		} else if err != nil {
			t.Errorf("unit %d: %v", i, err)
		}
	}
	if got, want := items(t, w), names(good); !slices.Equal(got, want) {
		t.Errorf("items %q, want %q: the failing unit's insert undone, its batch-mates' kept", got, want)
	}
	if want := names(good); !slices.Equal(seen, want) {
		t.Errorf("after-batch hook saw %q, want %q", seen, want)
	}
}

// insertTogether is a group's run: one multi-row insert for all the units.
func insertTogether(ctx context.Context, tx *sql.Tx, units []*unit) error {
	args := make([]any, len(units))
	for i, u := range units {
		args[i] = u.value
	}
	q := `INSERT INTO items (name) VALUES ` + strings.TrimSuffix(strings.Repeat("(?),", len(units)), ",")
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

// groupOf returns a group that inserts its units together, with the sizes
// of its calls, and puts units in it, counting their runs alone.
func groupOf(units []*unit) (g *group, calls *[]int, alone *atomic.Int64) {
	calls, alone = new([]int), new(atomic.Int64)
	g = &group{run: func(ctx context.Context, tx *sql.Tx, units []*unit, _ time.Time) error {
		*calls = append(*calls, len(units))
		return insertTogether(ctx, tx, units)
	}}
	for _, u := range units {
		run := u.run
		u.group, u.run = g, func(ctx context.Context, tx *sql.Tx, now time.Time) error {
			alone.Add(1)
			return run(ctx, tx, now)
		}
	}
	return g, calls, alone
}

// Units of a group that share a batch run in one call of the group.
func TestBatcherGroupRunsTogether(t *testing.T) {
	b, w, _ := newTestBatcher(t)
	grouped := inserts("grouped", 30)
	_, calls, alone := groupOf(grouped)
	units := append(slices.Clone(grouped), insert("on its own"))
	release := holdWriter(t, b)
	wait := doAll(context.Background(), b, units)
	release(len(units))
	for i, err := range wait() {
		if err != nil {
			t.Errorf("unit %d: %v", i, err)
		}
	}
	if want := []int{len(grouped)}; !slices.Equal(*calls, want) {
		t.Errorf("group calls with %v units, want %v", *calls, want)
	}
	if n := alone.Load(); n != 0 {
		t.Errorf("grouped units ran alone %d times, want 0", n)
	}
	if got, want := items(t, w), names(units); !slices.Equal(got, want) {
		t.Errorf("items %q, want %q", got, want)
	}
}

// When a group's call fails, its units run one by one: the unit at fault
// fails alone and its batch-mates commit.
func TestBatcherGroupFailureFallsBack(t *testing.T) {
	b, w, _ := newTestBatcher(t)
	good := inserts("good", 20)
	bad := insert("") // breaks items' CHECK
	units := append(slices.Clone(good[:10]), bad)
	units = append(units, good[10:]...)
	_, calls, alone := groupOf(units)
	release := holdWriter(t, b)
	wait := doAll(context.Background(), b, units)
	release(len(units))
	for i, err := range wait() {
		var se sqlite3.Error
		if units[i] == bad {
			if !errors.As(err, &se) || se.ExtendedCode != sqlite3.ErrConstraintCheck {
				t.Errorf("unit breaking the CHECK: err = %v, want a CHECK violation", err)
			}
		} else if err != nil {
			t.Errorf("unit %d: %v", i, err)
		}
	}
	if want := []int{len(units)}; !slices.Equal(*calls, want) {
		t.Errorf("group calls with %v units, want %v (one, failing)", *calls, want)
	}
	if n := alone.Load(); n < int64(len(units)) {
		t.Errorf("units ran alone %d times, want each at least once", n)
	}
	if got, want := items(t, w), names(good); !slices.Equal(got, want) {
		t.Errorf("items %q, want %q", got, want)
	}
}

// The after-batch hook writes in the batch's transaction: its work commits
// with the units', and its error fails the whole batch.
func TestBatcherAfterBatchInTransaction(t *testing.T) {
	b, w, _ := newTestBatcher(t)
	if _, err := w.Exec(`CREATE TABLE batches (id INTEGER PRIMARY KEY, size INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	errVeto := errors.New("veto")
	b.afterBatch = func(ctx context.Context, tx *sql.Tx, done []*unit) error {
		if slices.Contains(names(done), "veto") {
			return errVeto
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO batches (size) VALUES (?)`, len(done))
		return err
	}
	sizes := func() []int {
		t.Helper()
		rows, err := w.Query(`SELECT size FROM batches ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	units := inserts("item", 3)
	release := holdWriter(t, b)
	wait := doAll(context.Background(), b, units)
	release(len(units))
	for i, err := range wait() {
		if err != nil {
			t.Errorf("unit %d: %v", i, err)
		}
	}
	if got, want := sizes(), []int{1, 3}; !slices.Equal(got, want) {
		t.Errorf("batches written by the hook %v, want %v", got, want)
	}

	vetoed := append(inserts("vetoed", 3), insert("veto"))
	release = holdWriter(t, b)
	wait = doAll(context.Background(), b, vetoed)
	release(len(vetoed))
	for i, err := range wait() {
		if !errors.Is(err, errVeto) {
			t.Errorf("unit %d of the vetoed batch: err = %v, want %v", i, err, errVeto)
		}
	}
	if got, want := items(t, w), names(units); !slices.Equal(got, want) {
		t.Errorf("items after the vetoed batch %q, want %q", got, want)
	}
	if got, want := sizes(), []int{1, 3, 1}; !slices.Equal(got, want) {
		t.Errorf("batches written by the hook %v, want %v (the second held unit's batch added)", got, want)
	}
}

// The after-commit hook runs once the batch's work can be read from
// another connection, before any unit's caller has its answer.
func TestBatcherAfterCommit(t *testing.T) {
	b, _, r := newTestBatcher(t)
	var mu sync.Mutex
	announced := map[string]bool{}
	var unseen []string
	var readErr error
	b.afterCommit = func(done []*unit) {
		mu.Lock()
		defer mu.Unlock()
		read, err := readItems(r)
		if err != nil {
			readErr = err
		}
		for _, name := range names(done) {
			if !slices.Contains(read, name) {
				unseen = append(unseen, name)
			}
			announced[name] = true
		}
	}
	units := inserts("item", 10)
	release := holdWriter(t, b)
	errs := make([]error, len(units))
	var wg sync.WaitGroup
	for i, u := range units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = b.do(context.Background(), u); errs[i] == nil {
				mu.Lock()
				defer mu.Unlock()
				if !announced[u.value.(string)] {
					errs[i] = errors.New("answered before the after-commit hook ran")
				}
			}
		}()
	}
	release(len(units))
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("unit %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if len(unseen) > 0 {
		t.Errorf("after-commit hook ran before %q could be read", unseen)
	}
	if len(announced) != len(units) {
		t.Errorf("after-commit hook heard of %d units, want %d", len(announced), len(units))
	}
}

// A unit whose caller has gone before its batch runs is left out, and its
// caller gets the context's error.
func TestBatcherCancelledBeforeBatch(t *testing.T) {
	b, w, _ := newTestBatcher(t)
	var ran atomic.Bool
	gone := insert("gone")
	run := gone.run
	gone.run = func(ctx context.Context, tx *sql.Tx, now time.Time) error {
		ran.Store(true)
		return run(ctx, tx, now)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := holdWriter(t, b)
	waitGone := doAll(ctx, b, []*unit{gone})
	waitStays := doAll(context.Background(), b, []*unit{insert("stays")})
	for len(b.units) < 2 {
		runtime.Gosched()
	}
	cancel()
	release(2)
	if err := waitGone()[0]; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled unit: err = %v, want %v", err, context.Canceled)
	}
	if err := waitStays()[0]; err != nil {
		t.Errorf("its batch-mate: %v", err)
	}
	if ran.Load() {
		t.Error("the cancelled unit ran")
	}
	if got, want := items(t, w), []string{"stays"}; !slices.Equal(got, want) {
		t.Errorf("items %q, want %q", got, want)
	}
}

// Close finishes the work already queued; after it, the writer refuses
// new work.
func TestBatcherCloseFinishesQueuedWork(t *testing.T) {
	b, w, _ := newTestBatcher(t)
	var want []string
	// The writer sees the queue and Close at once and may take either
	// first: each round gives both ways another chance.
	for round := range 10 {
		if round > 0 {
			b = newBatcher(w, func() time.Time { return time.Now().UTC() })
			t.Cleanup(b.Close)
		}
		units := inserts("round"+strconv.Itoa(round)+" item", 5)
		release := holdWriter(t, b)
		wait := doAll(context.Background(), b, units)
		for len(b.units) < len(units) {
			runtime.Gosched()
		}
		closed := make(chan struct{})
		go func() {
			b.Close()
			close(closed)
		}()
		<-b.quit // Close has begun
		release(len(units))
		for i, err := range wait() {
			if err != nil {
				t.Errorf("round %d: unit %d queued before Close: %v", round, i, err)
			}
		}
		<-closed
		if err := b.do(context.Background(), insert("late")); !errors.Is(err, ErrClosed) {
			t.Errorf("round %d: unit after Close: err = %v, want %v", round, err, ErrClosed)
		}
		want = append(want, names(units)...)
	}
	slices.Sort(want)
	if got := items(t, w); !slices.Equal(got, want) {
		t.Errorf("items %q, want %q", got, want)
	}
}

// A unit that reaches the queue after Close has drained it (a request that
// passed the shutdown check just before Close) gets ErrClosed instead of
// waiting for ever.
func TestBatcherUnitQueuedAfterCloseIsRefused(t *testing.T) {
	b, _, _ := newTestBatcher(t)
	b.Close()
	u := insert("too late")
	u.ctx, u.done = context.Background(), make(chan error, 1)
	b.units <- u
	got := make(chan error, 1)
	go func() { got <- b.wait(u) }()
	select {
	case err := <-got:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("err = %v, want %v", err, ErrClosed)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a unit queued after Close waits for ever")
	}
}
