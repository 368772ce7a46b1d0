package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/cmd/rally/database"
	"github.com/rallyhq/rally/notify"
)

// acknowledged is the work a client was told succeeded: the addresses
// whose signing got its "check your email" page, and those whose
// confirmation got its thank-you page.
type acknowledged struct {
	signed, confirmed []string
}

// readAcknowledged reads a list of acknowledged work, one line each:
// "signed ADDRESS" or "confirmed ADDRESS". Blank lines and lines starting
// with # are skipped.
func readAcknowledged(r io.Reader) (acknowledged, error) {
	var ack acknowledged
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		what, addr, ok := strings.Cut(text, " ")
		addr = strings.TrimSpace(addr)
		switch {
		case !ok || addr == "":
		case what == "signed":
			ack.signed = append(ack.signed, addr)
			continue
		case what == "confirmed":
			ack.confirmed = append(ack.confirmed, addr)
			continue
		}
		return ack, fmt.Errorf("line %d: %q: want \"signed ADDRESS\" or \"confirmed ADDRESS\"", line, text)
	}
	return ack, sc.Err()
}

// durability is what the database holds of acknowledged work.
type durability struct {
	signed, signedOnDisk       int
	confirmed, confirmedOnDisk int
	queued, sent               int // confirmation mails of the signed, by where they stand
	missingSigned, unmailed    []string
	missingConfirmed           []string
	// mails are the outbox's mails to the signed addresses.
	mails map[string][]notify.Delivery
	// damage is what SQLite's integrity and foreign-key checks found.
	damage error
}

// ok reports whether every acknowledged signing is on disk with its mail
// queued or sent, every acknowledged confirmation is on disk, and the
// database is sound.
func (d durability) ok() bool {
	return len(d.missingSigned)+len(d.unmailed)+len(d.missingConfirmed) == 0 && d.damage == nil
}

// checkAcknowledged looks up acknowledged work of a cause in the database,
// through the campaigns store and the outbox, and checks the database's
// integrity.
func checkAcknowledged(ctx context.Context, store *campaigns.Store, reader *sql.DB, causeID int64, ack acknowledged) (durability, error) {
	d := durability{signed: len(ack.signed), confirmed: len(ack.confirmed)}
	states, err := store.SignatureStates(ctx, causeID, append(append([]string(nil), ack.signed...), ack.confirmed...))
	if err != nil {
		return d, err
	}
	if d.mails, err = notify.DeliveriesTo(ctx, reader, ack.signed); err != nil {
		return d, err
	}
	for _, e := range ack.signed {
		if states[e].Signed {
			d.signedOnDisk++
		} else {
			d.missingSigned = append(d.missingSigned, e)
		}
		mailed := false
		for _, m := range d.mails[e] {
			switch m.Status {
			case "queued":
				d.queued++
			case "sent":
				d.sent++
			default:
				continue
			}
			mailed = true
			break
		}
		if !mailed {
			d.unmailed = append(d.unmailed, e)
		}
	}
	for _, e := range ack.confirmed {
		if states[e].Confirmed {
			d.confirmedOnDisk++
		} else {
			d.missingConfirmed = append(d.missingConfirmed, e)
		}
	}
	d.damage = database.Check(ctx, reader)
	if d.damage != nil && !errors.Is(d.damage, database.ErrDamaged) {
		return d, d.damage
	}
	return d, nil
}

// print says what the check found, a line each, naming a few of the
// addresses whose work is missing.
func (d durability) print(w io.Writer) {
	fmt.Fprintf(w, "verified: %d signatures on disk (of %d acknowledged)\n", d.signedOnDisk, d.signed)
	fmt.Fprintf(w, "verified: %d confirmation mails queued or sent (%d queued, %d sent)\n", d.queued+d.sent, d.queued, d.sent)
	if d.confirmed > 0 {
		fmt.Fprintf(w, "verified: %d confirmations on disk (of %d acknowledged)\n", d.confirmedOnDisk, d.confirmed)
	}
	if d.damage == nil {
		fmt.Fprintln(w, "verified: database integrity ok")
	} else {
		fmt.Fprintf(w, "DAMAGED: %v\n", d.damage)
	}
	for _, m := range []struct {
		what  string
		addrs []string
	}{{"signatures", d.missingSigned}, {"confirmation mails", d.unmailed}, {"confirmations", d.missingConfirmed}} {
		if len(m.addrs) == 0 {
			continue
		}
		some := m.addrs[:min(5, len(m.addrs))]
		fmt.Fprintf(w, "MISSING: %d %s that got a success answer, among them %s\n", len(m.addrs), m.what, strings.Join(some, ", "))
	}
}

// errMissing says acknowledged work was not found on disk.
var errMissing = errors.New("acknowledged work missing from the database")

// cmdCheckSignatures is `rally check-signatures FILE [--cause SLUG]`, left
// out of the usage: it reads a list of acknowledged work (readAcknowledged)
// from FILE, or standard input for -, and checks it against the database,
// as the load tool does after a run. It fails when anything is missing.
func cmdCheckSignatures(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-signatures", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("cause", demoSlug, "the slug of the cause signed")
	cfg, file, err := parseWithFile(fs, args, getenv, "usage: rally check-signatures FILE [--cause SLUG]")
	if err != nil {
		return err
	}
	setupLogging(cfg.LogLevel, stderr)
	in := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	ack, err := readAcknowledged(in)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if _, err := os.Stat(database.Path(cfg.Data)); err != nil {
		return fmt.Errorf("no database in %s: %w", cfg.Data, err)
	}
	writer, reader, closeDB, err := openDB(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer closeDB()
	store := campaigns.NewStore(writer, reader)
	defer store.Close()
	cz, err := store.FindCauseBySlug(ctx, *slug)
	if err != nil {
		return fmt.Errorf("cause %q: %w", *slug, err)
	}
	d, err := checkAcknowledged(ctx, store, reader, cz.ID, ack)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	d.print(stderr)
	if !d.ok() {
		return errMissing
	}
	return nil
}
