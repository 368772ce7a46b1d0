package notify

import (
	"context"
	"fmt"
	"testing"
)

// DeliveriesTo finds each address's mails with where they stand, sent or
// still queued, and nothing for an address no mail went to.
func TestDeliveriesTo(t *testing.T) {
	db, _ := mustOpenDB(t)
	ctx := context.Background()
	out, err := NewDevOutbox(t.TempDir(), "Rally <rally@example.org>")
	if err != nil {
		t.Fatal(err)
	}
	w := NewWorker(db, out, WorkerOptions{Logger: testLogger(t), Now: newClock().Now})
	mustEnqueue(t, db, testMessage("ada@example.org"), testMessage("grace@example.org"))
	if n, err := w.DeliverDue(ctx); err != nil || n != 2 {
		t.Fatalf("DeliverDue = %d, %v; want 2", n, err)
	}
	mustEnqueue(t, db, testMessage("ada@example.org"))
	got, err := DeliveriesTo(ctx, db, []string{"ada@example.org", "nobody@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(got); len(got) != 1 || len(got["ada@example.org"]) != 2 {
		t.Fatalf("DeliveriesTo = %s, want Ada's two mails only", s)
	}
	for i, want := range []string{"sent", "queued"} {
		if d := got["ada@example.org"][i]; d.Status != want || d.ID == 0 {
			t.Errorf("Ada's mail %d: %+v, want %s with its id", i, d, want)
		}
	}
}
