package campaigns

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/notify"
)

// BenchmarkSignRowsBatched is the ceiling for the signing path: the same
// rows a signing writes (supporter, signature, confirmation mail of the
// real size), straight into SQLite in transactions of 100, with no HTTP,
// no templates and no group-commit machinery.
func BenchmarkSignRowsBatched(b *testing.B) {
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
	if _, _, err := s.prepareSigning(ctx); err != nil {
		b.Fatal(err)
	}
	text, html := strings.Repeat("t", 900), strings.Repeat("h", 3200) // a confirmation mail's parts
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		tx, err := w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now().UTC()
		for j := 0; j < 100 && i < b.N; j, i = j+1, i+1 {
			token, tokenID, hash := NewSignatureToken()
			in := SignInput{Name: "Ada Lovelace", Email: fmt.Sprintf("ceiling%d@example.org", i), Country: "FR", Lang: "en"}
			sg := &Signing{CauseID: c.ID, In: in, Token: token, TokenID: tokenID, TokenHash: hash,
				NewMail: notify.Message{To: in.Email, Subject: "Confirm", Text: text + token, HTML: html + token, Kind: "signature_confirm"}}
			if _, err := s.signTx(ctx, tx, sg, now); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
