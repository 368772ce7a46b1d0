package campaigns

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rallyhq/rally/notify"
)

// BenchmarkSignRowsBatched is the ceiling for the signing path: the same
// rows a signing writes (signature, confirmation mail of the real size), straight into SQLite in transactions of 100, with no HTTP,
// no templates and no group-commit machinery.
func BenchmarkSignRowsBatched(b *testing.B) { benchCeiling(b, false) }

// BenchmarkSignManyBatched is the same with each 100 rows written by
// signMany's multi-row inserts, as the group commit writes them.
func BenchmarkSignManyBatched(b *testing.B) { benchCeiling(b, true) }

func benchCeiling(b *testing.B, many bool) {
	w, r := mustOpenDBTB(b)
	s := NewStore(w, r)
	defer s.Close()
	ctx := context.Background()
	o, err := s.CreateOrganiser(ctx, "Org", "org@example.org", "correct horse battery", false, true)
	if err != nil {
		b.Fatal(err)
	}
	c, err := s.CreateCause(ctx, o.ID, CauseInput{Title: "Ceiling", Summary: "s", Target: "t", Goal: 100, Lang: "en"}, "")
	if err != nil {
		b.Fatal(err)
	}
	if err := s.prepareSigning(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		tx, err := w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now().UTC()
		var sgs []*Signing
		for j := 0; j < 100 && i < b.N; j, i = j+1, i+1 {
			token, tokenID, hash := NewSignatureToken()
			in := SignInput{Name: "Ada Lovelace", Email: fmt.Sprintf("ceiling%d@example.org", i), Country: "FR", Lang: "en"}
			sg := &Signing{CauseID: c.ID, In: in, Token: token, TokenID: tokenID, TokenHash: hash,
				NewMail: notify.Message{To: in.Email, Kind: "signature_confirm", Template: "signature_confirm", Data: map[string]string{"Name": "Ada", "CauseTitle": c.Title, "Target": c.Target, "CauseURL": "http://localhost:8080/c/" + c.Slug, "ConfirmURL": "http://localhost:8080/confirm/" + token}}}
			if many {
				sgs = append(sgs, sg)
			} else if _, err := s.signTx(ctx, tx, sg, now); err != nil {
				b.Fatal(err)
			}
		}
		if many {
			if _, err := s.signMany(ctx, tx, sgs, now); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
