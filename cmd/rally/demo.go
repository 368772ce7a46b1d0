package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"time"

	"github.com/rallyhq/rally/campaigns"
)

const demoBody = `Every morning, two thousand children walk to the four schools along the Rue des Tilleuls,
breathing the exhaust of the cars queuing beside them.

## What we ask

- Close the street to through traffic from **8:00 to 9:00** and **16:00 to 17:00** on school days.
- Keep access for residents, deliveries and emergency vehicles.
- Measure the air before and after, and publish the figures.

Cities like [Paris](https://www.paris.fr/) and London have done it, and the air around their schools
measurably improved within months. Our children deserve the same.`

// addDemo adds a sample organiser and a published cause to a database that
// has no causes yet, and logs the organiser's login. It does nothing on a
// database that has causes.
func addDemo(ctx context.Context, a *app) error {
	n, err := a.store.CountCauses(ctx)
	if err != nil || n > 0 {
		if n > 0 {
			slog.Info("demo: the database already has causes; nothing added")
		}
		return err
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	password := base64.RawURLEncoding.EncodeToString(b[:])
	const email = "demo@rally.localhost"
	o, err := a.accounts.AddOrganiser(ctx, "Camille Martin", email, password, false)
	if err != nil {
		return err
	}
	end := time.Now().UTC().AddDate(0, 3, 0)
	c, err := a.store.CreateCause(ctx, o.ID, campaigns.CauseInput{
		Title:   "Safe streets around our schools",
		Summary: "Close the Rue des Tilleuls to through traffic at school times, so two thousand children can walk to school in clean air.",
		Target:  "The Mayor and City Council",
		BodyMD:  demoBody,
		Goal:    500,
		EndsAt:  &end,
		Lang:    "en",
	}, "")
	if err != nil {
		return err
	}
	if _, err := a.store.SetStatus(ctx, c.ID, campaigns.Published); err != nil {
		return err
	}
	slog.Info("demo: added a published cause and its organiser", slog.String("cause", a.cfg.BaseURL+"/c/"+c.Slug),
		slog.String("login", a.cfg.BaseURL+"/login"), slog.String("email", email), slog.String("password", password))
	return nil
}
