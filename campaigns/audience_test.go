package campaigns

import (
	"context"
	"strings"
	"testing"
)

// A blast's audience is the cause's confirmed signers who ticked updates,
// in signing order, a page at a time, optionally of some countries; the
// query walks the partial index made for it.
func TestBlastAudience(t *testing.T) {
	s, w, c := newTestStore(t)
	ctx := context.Background()
	sign := func(email, name, country, lang string, updates, confirm bool) {
		t.Helper()
		sg := testSigning(c, email)
		sg.In.Name, sg.In.Country, sg.In.Lang, sg.In.Updates = name, country, lang, updates
		if _, err := s.Sign(ctx, sg); err != nil {
			t.Fatal(err)
		}
		if confirm {
			if _, err := s.Confirm(ctx, sg.Token); err != nil {
				t.Fatal(err)
			}
		}
	}
	sign("ada@example.org", "Ada Lovelace", "GB", "en", true, true)
	sign("bob@example.org", "Bob", "FR", "fr", false, true)            // no updates
	sign("cy@example.org", "Cy Young", "FR", "fr", true, false)        // not confirmed
	sign("zoe@example.org", "  Zoé   Martin ", "FR", "fr", true, true) // FR, in French
	sign("dan@example.org", "", "BE", "fr", true, true)                // no name
	a := NewBlastAudience(s, "https://rally.test/")

	cz, err := a.Cause(ctx, c.Slug)
	if err != nil || cz.ID != c.ID || cz.URL != "https://rally.test/c/"+c.Slug || cz.Title != c.Title {
		t.Fatalf("Cause = %+v, %v", cz, err)
	}
	var got []string
	var pos int64
	for {
		page, next, err := a.Recipients(ctx, c.ID, nil, pos, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			got = append(got, r.Email+"/"+r.FirstName+"/"+r.Lang+"/"+r.Country)
		}
		if len(page) < 2 {
			break
		}
		pos = next
	}
	if want := "ada@example.org/Ada/en/GB zoe@example.org/Zoé/fr/FR dan@example.org//fr/BE"; strings.Join(got, " ") != want {
		t.Errorf("audience %q, want %q", strings.Join(got, " "), want)
	}
	fr, _, err := a.Recipients(ctx, c.ID, []string{"FR", "BE"}, 0, 10)
	if err != nil || len(fr) != 2 || fr[0].Email != "zoe@example.org" {
		t.Errorf("FR and BE: %+v, %v", fr, err)
	}
	countries, err := a.Countries(ctx, c.ID, "fr")
	if err != nil || len(countries) != 3 || countries[0].Count != 1 {
		t.Errorf("countries %+v, %v", countries, err)
	}

	var plan string
	rows, err := w.Query(`EXPLAIN QUERY PLAN SELECT id, email, name, lang, country FROM signatures INDEXED BY signatures_blast_audience
		WHERE cause_id = ? AND confirmed_at IS NOT NULL AND consent_updates = 1 AND id > ? ORDER BY id LIMIT ?`, c.ID, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan += detail + "\n"
	}
	rows.Close()
	if !strings.Contains(plan, "signatures_blast_audience") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("the audience query does not walk its index in order:\n%s", plan)
	}
}
