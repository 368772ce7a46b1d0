package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rallyhq/rally/campaigns"
)

// demoSlug is the slug of the cause addDemo adds.
const demoSlug = "safe-streets-around-our-schools"

// cmdSeed adds confirmed signatures to a cause, for load tests:
//
//	rally seed --signatures N [--cause SLUG] [--batch B]
//
// Without --cause it seeds the demo cause, which it adds first to a
// database that has no cause, as `rally serve --demo` would. It writes
// through the campaigns store, a transaction per batch, and prints its
// progress and the time taken. A Rally serving the same folder would not
// see the new count until it restarts: stop it first.
func cmdSeed(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("signatures", 0, "how many confirmed signatures to add")
	slug := fs.String("cause", demoSlug, "the slug of the cause to add them to; by default the demo cause, added to a database that has no cause")
	batch := fs.Int("batch", 20000, "signatures per transaction")
	cfg, err := parseConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	if *n <= 0 || *batch <= 0 || fs.NArg() > 0 {
		return errors.New("usage: rally seed --signatures N [--cause SLUG] [--batch B]")
	}
	setupLogging(cfg.LogLevel, stderr)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	cz, err := a.store.FindCauseBySlug(ctx, *slug)
	if errors.Is(err, campaigns.ErrNotFound) && *slug == demoSlug {
		if err := addDemo(ctx, a); err != nil {
			return fmt.Errorf("seed: demo: %w", err)
		}
		cz, err = a.store.FindCauseBySlug(ctx, *slug)
	}
	if errors.Is(err, campaigns.ErrNotFound) {
		return fmt.Errorf("seed: no cause %q in %s (give --cause SLUG)", *slug, cfg.Data)
	}
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(stderr, "seeding %d signatures into %s, %d a transaction\n", *n, cz.Slug, *batch)
	begin := time.Now()
	said := begin
	for done := 0; done < *n; {
		size := min(*batch, *n-done)
		if err := a.store.SeedSignatures(ctx, cz.ID, size, size); err != nil {
			return fmt.Errorf("seed: after %d signatures: %w", done, err)
		}
		done += size
		if now := time.Now(); now.Sub(said) >= time.Second && done < *n {
			fmt.Fprintf(stderr, "  %d of %d (%d%%), %.0f a second\n", done, *n, done*100 / *n, float64(done)/now.Sub(begin).Seconds())
			said = now
		}
	}
	d := time.Since(begin)
	fmt.Fprintf(stderr, "seeded %d signatures into %s in %s (%.0f a second)\n", *n, cz.Slug, d.Round(time.Millisecond), float64(*n)/d.Seconds())
	return nil
}
