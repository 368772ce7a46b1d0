package campaigns

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Search folds text the same way for the index and for a query (see
// searchTokens): SQLite's unicode61 tokenizer folds case and accents and
// splits at apostrophes, but leaves ligatures, elided articles and plurals
// alone, so "oeuvre" would not find "œuvre", nor "ecole" "l'école", nor
// "foret" "forêts". The index holds each cause's text as searchText makes
// it, and a query is made of the same tokens, each a prefix.

// Bounds of a search: what a visitor types is cut to maxQuery bytes and
// maxTerms words; at most maxHits matches are ranked.
const (
	maxQuery = 200
	maxTerms = 8
	maxHits  = 1000
)

// ligatures are the letters that Unicode decomposition leaves whole but
// that people type as two (or as a plain letter).
var ligatures = strings.NewReplacer(
	"œ", "oe", "Œ", "oe", "æ", "ae", "Æ", "ae", "ß", "ss", "ẞ", "ss",
	"ø", "o", "Ø", "o", "đ", "d", "Đ", "d", "ł", "l", "Ł", "l", "ı", "i",
	"þ", "th", "Þ", "th", "ð", "d", "Ð", "d",
)

// elided are the French words that lose their vowel before another word
// with an apostrophe: "l'école" is found as "école".
var elided = map[string]bool{
	"l": true, "d": true, "j": true, "m": true, "n": true, "s": true, "t": true, "c": true,
	"qu": true, "jusqu": true, "lorsqu": true, "puisqu": true, "quoiqu": true, "presqu": true,
}

func isApostrophe(r rune) bool {
	return r == '\'' || r == '’' || r == 'ʼ' || r == '‘' || r == '`' || r == '´'
}

// searchTokens returns the words of s as the search index holds them:
// compatibility-decomposed (ﬁ is fi), without accents, lower-cased, with
// ligatures spelt out, elided articles dropped and plurals folded (stem).
// Everything that is not a letter or a digit separates words, so no
// token ever holds the full-text query syntax's operators.
func searchTokens(s string) []string {
	s = norm.NFKD.String(ligatures.Replace(s))
	var out []string
	var word strings.Builder
	var parts []string
	flush := func() {
		if word.Len() > 0 {
			parts = append(parts, word.String())
			word.Reset()
		}
	}
	endWord := func() {
		flush()
		for i, p := range parts {
			if i == 0 && len(parts) > 1 && elided[p] {
				continue
			}
			out = append(out, stem(p))
		}
		parts = parts[:0]
	}
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Mn, r):
			// An accent, decomposed from its letter.
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			word.WriteRune(unicode.ToLower(r))
		case isApostrophe(r):
			flush()
		default:
			endWord()
		}
	}
	endWord()
	return out
}

// searchText returns s as the search index holds it (see searchTokens).
func searchText(s string) string { return strings.Join(searchTokens(s), " ") }

// stem folds the plural of a word, the same way for English and French
// (symmetric, so a query meets the text whatever it folds): forêts and
// forêt are foret, journaux journal, jeux jeu, cities and city citi.
func stem(w string) string {
	if utf8.RuneCountInString(w) < 4 {
		return w
	}
	switch {
	case strings.HasSuffix(w, "eaux"), strings.HasSuffix(w, "eux"), strings.HasSuffix(w, "oux"):
		w = w[:len(w)-1]
	case strings.HasSuffix(w, "aux") && len(w) >= 6:
		w = w[:len(w)-3] + "al"
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss"):
		w = w[:len(w)-1]
	}
	switch {
	case strings.HasSuffix(w, "ie"):
		w = w[:len(w)-1]
	case strings.HasSuffix(w, "y"):
		w = w[:len(w)-1] + "i"
	}
	return w
}

// cleanQuery returns q as a search is made and shown: cut to maxQuery
// bytes (at a character's start), spaces collapsed. "" means no search.
func cleanQuery(q string) string {
	if len(q) > maxQuery {
		i := maxQuery
		for i > 0 && !utf8.RuneStart(q[i]) {
			i--
		}
		q = q[:i]
	}
	q = strings.ToValidUTF8(q, "")
	return strings.Join(strings.FieldsFunc(q, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
}

// matchQuery returns q as a full-text MATCH expression: its tokens (see
// searchTokens), each as a prefix, all required; "" when q holds no word
// to look for. Tokens are letters and digits only, so nothing a visitor
// types is read as query syntax.
func matchQuery(q string) string {
	var terms []string
	for _, t := range searchTokens(q) {
		if utf8.RuneCountInString(t) < 2 && (t == "" || !unicode.IsDigit([]rune(t)[0])) {
			continue
		}
		if t = t + "*"; !slices.Contains(terms, t) {
			terms = append(terms, t)
		}
		if len(terms) == maxTerms {
			break
		}
	}
	return strings.Join(terms, " ")
}

// Column weights of a match, in cause_search's column order: a word in
// the title counts most, then the target, then the summary, then the body.
var searchWeights = [4]float64{5, 2, 1, 3}

// matchScore ranks a match from its matchinfo(cause_search, 'pcnx') blob:
// for each word of the query and each column, a BM25-like weight of how
// rare the word is among causes, saturating with how often it is in this
// one, times the column's weight.
func matchScore(mi []byte) float64 {
	n := len(mi) / 4
	at := func(i int) float64 {
		if i >= n {
			return 0
		}
		return float64(binary.NativeEndian.Uint32(mi[4*i:]))
	}
	if n < 3 {
		return 0
	}
	phrases, cols, docs := int(at(0)), int(at(1)), at(2)
	score := 0.0
	for p := range phrases {
		for col := range min(cols, len(searchWeights)) {
			base := 3 + 3*(p*cols+col)
			hits, with := at(base), at(base+2)
			if hits == 0 {
				continue
			}
			idf := math.Log(1 + (docs-with+0.5)/(with+0.5))
			score += searchWeights[col] * idf * hits * 2.2 / (hits + 1.2)
		}
	}
	return score
}

// searchHit is a match before ranking.
type searchHit struct {
	id          int64
	open        bool
	score       float64
	publishedAt time.Time
}

// rankHits orders matches: open causes before closed ones, then by score,
// then newest first.
func rankHits(hits []searchHit) {
	slices.SortStableFunc(hits, func(a, b searchHit) int {
		switch {
		case a.open != b.open:
			if a.open {
				return -1
			}
			return 1
		case a.score != b.score:
			if a.score > b.score {
				return -1
			}
			return 1
		case !a.publishedAt.Equal(b.publishedAt):
			return b.publishedAt.Compare(a.publishedAt)
		}
		return int(b.id - a.id)
	})
}

// Listing is one page of causes: a page of the published causes, or of a
// search's results.
type Listing struct {
	Causes []Cause
	// Total is how many causes there are in all the pages.
	Total int
	// Page is the page's number, from 1; Pages how many there are (at
	// least 1).
	Page, Pages int
}

// pageOf returns the page number asked for, between 1 and the last page
// of total items by size, and the offset of its first item.
func pageOf(page, total, size int) (int, int, int) {
	pages := max(1, (total+size-1)/size)
	page = min(max(page, 1), pages)
	return page, pages, (page - 1) * size
}

// Search returns page (from 1; out of range: the nearest) of the public
// causes matching q, size a page: open causes first, then by relevance
// (see matchScore). Drafts are never found. A q with no word to look for
// finds nothing.
func (s *Store) Search(ctx context.Context, q string, page, size int) (Listing, error) {
	match := matchQuery(q)
	if match == "" {
		return Listing{Page: 1, Pages: 1}, nil
	}
	hits, err := s.searchHits(ctx, match)
	if err != nil {
		return Listing{}, fmt.Errorf("search causes: %w", err)
	}
	rankHits(hits)
	l := Listing{Total: len(hits)}
	var from int
	l.Page, l.Pages, from = pageOf(page, len(hits), size)
	ids := make([]int64, 0, size)
	for _, h := range hits[from:min(from+size, len(hits))] {
		ids = append(ids, h.id)
	}
	if l.Causes, err = s.causesByID(ctx, ids); err != nil {
		return Listing{}, fmt.Errorf("search causes: %w", err)
	}
	return l, nil
}

// searchHits returns the public causes matching the MATCH expression,
// scored, unordered.
func (s *Store) searchHits(ctx context.Context, match string) ([]searchHit, error) {
	now := s.now()
	rows, err := s.r.QueryContext(ctx, searchCauses, match, maxHits)
	if err != nil {
		if badMatch(err) {
			return nil, nil
		}
		return nil, err
	}
	defer rows.Close()
	var hits []searchHit
	for rows.Next() {
		var h searchHit
		var c Cause
		var endsAt, publishedAt sql.NullTime
		var mi []byte
		if err := rows.Scan(&h.id, &c.Status, &endsAt, &publishedAt, &mi); err != nil {
			return nil, err
		}
		c.EndsAt = timePtr(endsAt)
		if publishedAt.Valid {
			h.publishedAt = publishedAt.Time
		}
		h.open, h.score = c.Open(now), matchScore(mi)
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		if badMatch(err) {
			return nil, nil
		}
		return nil, err
	}
	return hits, nil
}

// causesByID returns the causes with the given ids, in that order; ids
// no cause has are left out.
func (s *Store) causesByID(ctx context.Context, ids []int64) ([]Cause, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+causeColumns+` FROM causes WHERE id IN (?`+
		strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, err
	}
	found, err := collectCauses(rows)
	if err != nil {
		return nil, err
	}
	out := make([]Cause, 0, len(found))
	for _, id := range ids {
		if i := slices.IndexFunc(found, func(c Cause) bool { return c.ID == id }); i >= 0 {
			out = append(out, found[i])
		}
	}
	return out, nil
}
