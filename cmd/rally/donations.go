package main

import (
	"context"
	"log/slog"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/donations"
)

// donationsForCauses lets the cause pages show the donate form and totals
// without campaigns importing donations (donations imports campaigns).
type donationsForCauses struct {
	h *donations.Handler
	s *donations.Store
}

func (d donationsForCauses) Enabled() bool { return d.h.Enabled() }

func (d donationsForCauses) Form(ctx context.Context, lang string, c campaigns.Cause, email string) any {
	f := d.h.DonateForm(lang, c, email)
	if f == nil {
		return nil
	}
	t, err := d.s.Totals(ctx, c.ID)
	if err != nil {
		slog.Error("donation totals", slog.Any("error", err))
		return f
	}
	f.Totals = &t
	return f
}

func (d donationsForCauses) Totals(ctx context.Context, lang string, c campaigns.Cause) (campaigns.DonationTotals, bool, error) {
	if !d.h.Enabled() {
		return campaigns.DonationTotals{}, false, nil
	}
	t, err := d.s.Totals(ctx, c.ID)
	if err != nil {
		return campaigns.DonationTotals{}, true, err
	}
	return campaigns.DonationTotals{Currency: t.Currency, TotalMinor: t.TotalMinor, Count: t.Count}, true, nil
}
