package campaigns

import (
	"context"
	"fmt"
	"time"

	"github.com/rallyhq/rally/notify"
)

// SeedSignatures adds n confirmed signatures, from n new supporters, to a
// cause, in transactions of batch rows each, and moves its count. It exists
// for load tests and demos: a cause with a million signers in well under a
// minute. Each row gets a unique address under the example.invalid domain,
// which no mail can reach.
func (s *Store) SeedSignatures(ctx context.Context, causeID int64, n, batch int) error {
	if batch <= 0 {
		batch = 10000
	}
	// Each batch that committed moved the count, even if a later one fails.
	defer s.changed(Change{CauseID: causeID})
	now := s.now()
	run := fmt.Sprintf("%x", now.UnixNano())
	countries := []string{"FR", "GB", "DE", "BE", "ES", "IT", "NL", "IE", "CA", "US"}
	for done := 0; done < n; {
		size := min(batch, n-done)
		err := s.seedBatch(ctx, causeID, run, done, size, countries, now)
		if err != nil {
			return fmt.Errorf("seed signatures: %w", err)
		}
		done += size
	}
	return nil
}

func (s *Store) seedBatch(ctx context.Context, causeID int64, run string, from, size int, countries []string, now time.Time) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	sup, err := tx.PrepareContext(ctx, `INSERT INTO supporters (email, email_key, name, country, postcode, lang, created_at, updated_at)
		VALUES (?, ?, ?, ?, '', 'en', ?, ?) RETURNING id`)
	if err != nil {
		return err
	}
	defer sup.Close()
	sig, err := tx.PrepareContext(ctx, `INSERT INTO signatures (cause_id, supporter_id, email, email_key, name, country, comment,
		is_public, consent_updates, lang, id, token_hash, token_expires_at, confirmed_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 1, 1, 'en', ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer sig.Close()
	for i := from; i < from+size; i++ {
		email := fmt.Sprintf("seed-%s-%d@example.invalid", run, i)
		key := notify.EmailKey(email)
		country := countries[i%len(countries)]
		name := fmt.Sprintf("Seed Signer %d", i)
		var id int64
		if err := sup.QueryRowContext(ctx, email, key, name, country, now, now).Scan(&id); err != nil {
			return err
		}
		comment := ""
		if i%50 == 0 {
			comment = "Signed by the load tool."
		}
		_, tokenID, hash := NewSignatureToken()
		if _, err := sig.ExecContext(ctx, causeID, id, email, key, name, country, comment, tokenID, hash,
			now.Add(TokenTTL), now, now); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE causes SET signature_count = signature_count + ? WHERE id = ?`, size, causeID); err != nil {
		return err
	}
	byCountry := map[string]int64{}
	for i := from; i < from+size; i++ {
		byCountry[countries[i%len(countries)]]++
	}
	if err := addBreakdowns(ctx, tx, causeID, byCountry, map[string]int64{now.UTC().Format(time.DateOnly): int64(size)}); err != nil {
		return err
	}
	return tx.Commit()
}
