package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallyhq/rally/notify"
)

// newTestStore returns a store on a fresh database and a published cause.
func newTestStore(t *testing.T) (*Store, *sql.DB, Cause) {
	t.Helper()
	w, r := mustOpenDB(t)
	s := NewStore(w, r)
	t.Cleanup(s.Close)
	ctx := context.Background()
	o, err := s.CreateOrganiser(ctx, "Org", "org@example.org", "correct horse battery", false, true)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateCause(ctx, o.ID, CauseInput{Title: "Clean air", Summary: "s", Target: "Mayor", Goal: 100, Lang: "en"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if c, err = s.SetStatus(ctx, c.ID, Published); err != nil {
		t.Fatal(err)
	}
	return s, w, c
}

func testSigning(c Cause, email string) *Signing {
	token, tokenID, hash := NewSignatureToken()
	in := SignInput{Name: "Ada Lovelace", Email: email, Country: "GB", Lang: "en"}
	if errs := in.Validate(); errs.Any() {
		panic(fmt.Sprint(errs))
	}
	mail := func(kind string) notify.Message {
		return notify.Message{To: in.Email, Subject: kind, Text: "link " + token, Kind: kind}
	}
	return &Signing{CauseID: c.ID, In: in, Token: token, TokenID: tokenID, TokenHash: hash, NewMail: mail("new"),
		AgainMail: func(int64) notify.Message { return mail("again_confirmed") }}
}

func outboxKinds(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT kind FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var kinds []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return kinds
}

// scanRow runs query on db and scans its one row into dest.
func scanRow(t *testing.T, db *sql.DB, query string, dest ...any) {
	t.Helper()
	if err := db.QueryRow(query).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// signingCalls are the sizes of the signings group's calls (signMany's
// multi-row path), those that wrote their signings and those that failed.
type signingCalls struct{ wrote, failed []int }

// watchSignings records the calls of s's signings group. Call it before
// signing concurrently, and read the calls once the signings have their
// answers.
func watchSignings(s *Store) *signingCalls {
	calls := &signingCalls{}
	run := s.signings.run
	s.signings.run = func(ctx context.Context, tx *sql.Tx, units []*unit, now time.Time) error {
		err := run(ctx, tx, units, now)
		if err != nil {
			calls.failed = append(calls.failed, len(units))
		} else {
			calls.wrote = append(calls.wrote, len(units))
		}
		return err
	}
	return calls
}

func TestSignConfirmCountsOncePerPerson(t *testing.T) {
	s, w, c := newTestStore(t)
	ctx := context.Background()

	first := testSigning(c, "Ada.Lovelace+petition@Gmail.com")
	if got, err := s.Sign(ctx, first); err != nil || got != SignedNew {
		t.Fatalf("first signing = %v, %v; want SignedNew", got, err)
	}
	// The same inbox written another way, before confirming: a second
	// signing with its own link.
	again := testSigning(c, "adalovelace@googlemail.com")
	if got, err := s.Sign(ctx, again); err != nil || got != SignedNew {
		t.Fatalf("second signing before confirming = %v, %v; want SignedNew", got, err)
	}
	var supporters int
	scanRow(t, w, `SELECT count(*) FROM supporters`, &supporters)
	if supporters != 0 {
		t.Errorf("supporters before confirming = %d; an address becomes a supporter when it confirms", supporters)
	}
	res, err := s.Confirm(ctx, first.Token)
	if err != nil || res.AlreadyConfirmed || res.SupporterID == 0 {
		t.Fatalf("confirm = %+v, %v", res, err)
	}
	res, err = s.Confirm(ctx, first.Token)
	if err != nil || !res.AlreadyConfirmed {
		t.Fatalf("confirming twice = %+v, %v; want AlreadyConfirmed", res, err)
	}
	// The second signing's link now says the signature is counted, and
	// counts nothing.
	res, err = s.Confirm(ctx, again.Token)
	if err != nil || !res.AlreadyConfirmed || res.CauseID != c.ID {
		t.Fatalf("confirming the other link = %+v, %v; want AlreadyConfirmed", res, err)
	}
	third := testSigning(c, "ADALOVELACE@gmail.com")
	if got, err := s.Sign(ctx, third); err != nil || got != SignedAgainConfirmed {
		t.Fatalf("signing after confirming = %v, %v; want SignedAgainConfirmed", got, err)
	}
	got, err := s.FindCauseByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SignatureCount != 1 {
		t.Errorf("signature count = %d, want 1", got.SignatureCount)
	}
	var sigs, confirmed int
	scanRow(t, w, `SELECT count(*) FROM supporters`, &supporters)
	scanRow(t, w, `SELECT count(*), count(confirmed_at) FROM signatures`, &sigs, &confirmed)
	if supporters != 1 || sigs != 2 || confirmed != 1 {
		t.Errorf("supporters, signatures, confirmed = %d, %d, %d; want 1, 2, 1", supporters, sigs, confirmed)
	}
	if st, err := s.Stats(ctx, c.ID); err != nil || st.Confirmed != 1 || st.Pending != 1 {
		t.Errorf("stats = %+v, %v; want 1 confirmed and the unused signing pending", st, err)
	}
	if got, want := strings.Join(outboxKinds(t, w), ","), "new,new,again_confirmed"; got != want {
		t.Errorf("mails queued = %s, want %s", got, want)
	}
	var email string
	scanRow(t, w, `SELECT email FROM supporters`, &email)
	if email != "Ada.Lovelace+petition@gmail.com" {
		t.Errorf("stored email = %q, want it as typed with the domain lower-cased", email)
	}
	// Only confirmed signatures are one per person: the database refuses a
	// second.
	if _, err := w.Exec(`UPDATE signatures SET confirmed_at = ? WHERE id = ?`, time.Now().UTC(), again.TokenID); !isUnique(err) {
		t.Errorf("confirming a second signature by hand: err = %v, want a UNIQUE violation", err)
	}
}

// A link past its expiry still says "already counted" when the signer
// confirmed through another.
func TestConfirmExpiredLinkOfSomeoneCounted(t *testing.T) {
	s, _, c := newTestStore(t)
	ctx := context.Background()
	old, fresh := testSigning(c, "twice@example.org"), testSigning(c, "twice@example.org")
	for _, sg := range []*Signing{old, fresh} {
		if _, err := s.Sign(ctx, sg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Confirm(ctx, fresh.Token); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	s.SetClock(func() time.Time { return now.Add(TokenTTL + time.Minute) })
	if res, err := s.Confirm(ctx, old.Token); err != nil || !res.AlreadyConfirmed {
		t.Fatalf("old link after 14 days = %+v, %v; want AlreadyConfirmed", res, err)
	}
}

func TestConfirmExpiredLink(t *testing.T) {
	s, _, c := newTestStore(t)
	ctx := context.Background()
	sg := testSigning(c, "late@example.org")
	if _, err := s.Sign(ctx, sg); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	s.SetClock(func() time.Time { return now.Add(TokenTTL + time.Minute) })
	if _, err := s.Confirm(ctx, sg.Token); err == nil || !strings.Contains(err.Error(), ErrExpired.Error()) {
		t.Fatalf("confirm after 14 days: err = %v, want expired", err)
	}
	got, err := s.FindCauseByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SignatureCount != 0 {
		t.Errorf("count = %d after an expired confirmation, want 0", got.SignatureCount)
	}
}

// Signatures never confirmed are deleted once their link has been expired
// for UnconfirmedKept, a window of ids at a time; confirmed ones, and
// unconfirmed ones whose link is recent, stay.
func TestForgetUnconfirmed(t *testing.T) {
	s, w, c := newTestStore(t)
	ctx := context.Background()
	forgetWindow = 2 // several windows for seven signatures
	t.Cleanup(func() { forgetWindow = 1000 })
	sign := func(email string) *Signing {
		sg := testSigning(c, email)
		if _, err := s.Sign(ctx, sg); err != nil {
			t.Fatal(err)
		}
		return sg
	}
	t0 := time.Now().UTC()
	s.SetClock(func() time.Time { return t0 })
	var never []*Signing
	for i := range 5 {
		never = append(never, sign(fmt.Sprintf("never%d@example.org", i)))
	}
	if _, err := s.Confirm(ctx, sign("confirmed@example.org").Token); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(TokenTTL + UnconfirmedKept)
	s.SetClock(func() time.Time { return later })
	sign("recent@example.org")

	// A minute before their links have been expired for UnconfirmedKept,
	// nothing goes.
	s.SetClock(func() time.Time { return later.Add(-time.Minute) })
	if _, n, err := s.ForgetUnconfirmed(ctx, 0); err != nil || n != 0 {
		t.Fatalf("ForgetUnconfirmed before time = %d, %v; want 0", n, err)
	}
	s.SetClock(func() time.Time { return later.Add(time.Minute) })
	next, n, err := s.ForgetUnconfirmed(ctx, 0)
	if err != nil || n != 5 {
		t.Fatalf("ForgetUnconfirmed = %d, %v; want the 5 never confirmed", n, err)
	}
	var left []string
	rows, err := w.Query(`SELECT email FROM signatures ORDER BY email`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		left = append(left, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if want := []string{"confirmed@example.org", "recent@example.org"}; !slices.Equal(left, want) {
		t.Errorf("signatures left %q, want %q", left, want)
	}
	if _, n, err := s.ForgetUnconfirmed(ctx, next); err != nil || n != 0 {
		t.Errorf("again from %d = %d, %v; want 0", next, n, err)
	}
	if _, err := s.Confirm(ctx, never[0].Token); !errors.Is(err, ErrNotFound) {
		t.Errorf("confirming a forgotten signature: err = %v, want not found", err)
	}
	if got, err := s.FindCauseByID(ctx, c.ID); err != nil || got.SignatureCount != 1 {
		t.Errorf("count = %d, %v; want the 1 confirmed", got.SignatureCount, err)
	}
}

// A signing that fails inside a shared transaction must not take its
// batch-mates down with it, though it breaks their multi-row insert.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s, w, c := newTestStore(t)
	ctx := context.Background()
	if err := s.prepareSigning(ctx); err != nil {
		t.Fatal(err)
	}
	calls := watchSignings(s)
	const n = 200
	release := holdWriter(t, s.batch)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sg := testSigning(c, fmt.Sprintf("person%d@example.org", i))
			if i%10 == 0 {
				sg.CauseID = 999999 // breaks the foreign key
			}
			_, errs[i] = s.Sign(ctx, sg)
		}(i)
	}
	release(n)
	wg.Wait()
	if want := []int{n}; !slices.Equal(calls.failed, want) {
		t.Errorf("failed multi-row inserts of %v signings, want %v: the signings must share a batch", calls.failed, want)
	}
	failed := 0
	for i, err := range errs {
		if (i%10 == 0) != (err != nil) {
			t.Errorf("signing %d: err = %v", i, err)
		}
		if err != nil {
			failed++
		}
	}
	var sigs, mails int
	scanRow(t, w, `SELECT count(*) FROM signatures`, &sigs)
	scanRow(t, w, `SELECT count(*) FROM outbox`, &mails)
	if want := n - failed; sigs != want || mails != want {
		t.Errorf("signatures, mails = %d, %d; want %d each", sigs, mails, want)
	}
}

func TestNextGoal(t *testing.T) {
	tests := []struct{ count, goal, want int64 }{
		{0, 100, 100}, {99, 100, 100}, {100, 100, 250}, {260, 100, 500}, {999, 500, 1000},
		{1000, 1000, 2500}, {2500, 1000, 5000}, {7000, 1000, 10000}, {12, 5000, 5000}, {10000, 10000, 25000},
	}
	for _, tt := range tests {
		if got := NextGoal(tt.count, tt.goal); got != tt.want {
			t.Errorf("NextGoal(%d, %d) = %d, want %d", tt.count, tt.goal, got, tt.want)
		}
	}
}

func TestSlugify(t *testing.T) {
	tests := map[string]string{
		"Save the Forêt de Compiègne!":   "save-the-foret-de-compiegne",
		"  Clean   air -- now  ":         "clean-air-now",
		"Œuvres & Straße":                "oeuvres-strasse",
		"日本語":                            "cause",
		strings.Repeat("very long ", 20): "very-long-very-long-very-long-very-long-very-long-very-long",
	}
	for in, want := range tests {
		if got := Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEmails(t *testing.T) {
	tests := []struct{ in, norm, key string }{
		{" Ada.Lovelace+x@Gmail.COM ", "Ada.Lovelace+x@gmail.com", "adalovelace@gmail.com"},
		{"a.b@googlemail.com", "a.b@googlemail.com", "ab@gmail.com"},
		{"First.Last+tag@Example.org", "First.Last+tag@example.org", "first.last@example.org"},
	}
	for _, tt := range tests {
		n, err := notify.NormalizeEmail(tt.in)
		if err != nil || n != tt.norm {
			t.Errorf("notify.NormalizeEmail(%q) = %q, %v; want %q", tt.in, n, err, tt.norm)
		}
		if k := notify.EmailKey(n); k != tt.key {
			t.Errorf("notify.EmailKey(%q) = %q, want %q", n, k, tt.key)
		}
	}
	for _, bad := range []string{"", "nobody", "a@b", "a b@example.org", "Ada <ada@example.org>", "a@example..org", "x@.example.org", "a,b@example.org"} {
		if _, err := notify.NormalizeEmail(bad); err == nil {
			t.Errorf("notify.NormalizeEmail(%q) accepted it", bad)
		}
	}
}

// Signings written together must each get a signing and a confirmation
// mail, even when the same person signs several times in one batch (up to
// the address's MailsPerDay mails), and signings by someone already counted
// must get the "already signed" mail (the first of which counts as their
// second mail of the day, after their confirmation link).
func TestSignManyInOneBatch(t *testing.T) {
	s, w, c := newTestStore(t)
	ctx := context.Background()
	const unique, repeats = 60, 20
	counted := testSigning(c, "counted@example.org")
	if _, err := s.Sign(ctx, counted); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Confirm(ctx, counted.Token); err != nil {
		t.Fatal(err)
	}
	calls := watchSignings(s)
	release := holdWriter(t, s.batch)
	var wg sync.WaitGroup
	outcomes := make([]SignOutcome, unique+2*repeats)
	errs := make([]error, len(outcomes))
	for i := range outcomes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			email := fmt.Sprintf("many%d@example.org", i)
			switch {
			case i >= unique+repeats:
				email = "Counted+again@example.org"
			case i >= unique:
				email = "Same.Person+x@gmail.com"
			}
			outcomes[i], errs[i] = s.Sign(ctx, testSigning(c, email))
		}(i)
	}
	release(len(outcomes))
	wg.Wait()
	if want := []int{len(outcomes)}; !slices.Equal(calls.wrote, want) || len(calls.failed) > 0 {
		t.Errorf("multi-row inserts of %v signings (failed: %v), want %v: one for the whole batch", calls.wrote, calls.failed, want)
	}
	counts := map[SignOutcome]int{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("signing %d: %v", i, err)
		}
		counts[outcomes[i]]++
	}
	if counts[SignedNew] != unique+repeats || counts[SignedAgainConfirmed] != repeats {
		t.Errorf("outcomes = %v; want %d new and %d already counted", counts, unique+repeats, repeats)
	}
	var sigs int
	scanRow(t, w, `SELECT count(*) FROM signatures`, &sigs)
	if want := 1 + unique + repeats; sigs != want {
		t.Errorf("signatures = %d, want %d", sigs, want)
	}
	kinds := map[string]int{}
	for _, k := range outboxKinds(t, w) {
		kinds[k]++
	}
	if kinds["new"] != 1+unique+MailsPerDay || kinds["again_confirmed"] != MailsPerDay-1 {
		t.Errorf("mails = %v; want %d new, %d again_confirmed", kinds, 1+unique+MailsPerDay, MailsPerDay-1)
	}
}

// Confirmations that share a batch move their cause's count by their number.
func TestConcurrentConfirmationsCountEach(t *testing.T) {
	s, _, c := newTestStore(t)
	ctx := context.Background()
	const n = 100
	tokens := make([]string, n)
	for i := range n {
		sg := testSigning(c, fmt.Sprintf("confirm%d@example.org", i))
		if _, err := s.Sign(ctx, sg); err != nil {
			t.Fatal(err)
		}
		tokens[i] = sg.Token
	}
	var movedMax int64
	afterBatch := s.batch.afterBatch
	s.batch.afterBatch = func(ctx context.Context, tx *sql.Tx, done []*unit) error {
		movedMax = max(movedMax, confirmedBy(done)[c.ID])
		return afterBatch(ctx, tx, done)
	}
	release := holdWriter(t, s.batch)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Every link twice, and one broken link per ten, in the same rush.
			if _, err := s.Confirm(ctx, tokens[i]); err != nil {
				t.Errorf("confirm %d: %v", i, err)
			}
			_, _ = s.Confirm(ctx, tokens[i])
			if i%10 == 0 {
				_, _ = s.Confirm(ctx, tokens[i][:16]+strings.Repeat("x", 32))
			}
		}(i)
	}
	release(n) // every first confirmation queued: they share a batch
	wg.Wait()
	if movedMax != n {
		t.Errorf("most confirmations counted in one batch = %d, want %d", movedMax, n)
	}
	got, err := s.FindCauseByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SignatureCount != n {
		t.Errorf("count = %d after %d confirmations (each twice), want %d", got.SignatureCount, n, n)
	}
}
