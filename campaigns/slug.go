package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

const maxSlug = 60

// Slugify turns a title into a slug: lower-case ASCII letters, digits and
// dashes, accents dropped ("Forêt de Compiègne" → "foret-de-compiegne").
func Slugify(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range norm.NFD.String(title) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == 'ß':
			b.WriteString("ss")
			dash = false
		case r == 'æ' || r == 'Æ':
			b.WriteString("ae")
			dash = false
		case r == 'œ' || r == 'Œ':
			b.WriteString("oe")
			dash = false
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(unicode.ToLower(r))
			dash = false
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
		if b.Len() >= maxSlug {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > maxSlug {
		s = strings.Trim(s[:maxSlug], "-")
	}
	if s == "" {
		s = "cause"
	}
	return s
}

// baseOfSlug strips a numeric suffix added for uniqueness ("clean-air-2" →
// "clean-air") so an edit that keeps the title keeps the slug.
func baseOfSlug(slug string) string {
	i := strings.LastIndexByte(slug, '-')
	if i <= 0 {
		return slug
	}
	for _, r := range slug[i+1:] {
		if r < '0' || r > '9' {
			return slug
		}
	}
	return slug[:i]
}

// uniqueSlug returns base, or base-2, base-3 … whichever no other cause has.
func uniqueSlug(ctx context.Context, tx *sql.Tx, base string, selfID int64) (string, error) {
	for i := 1; i < 10000; i++ {
		slug := base
		if i > 1 {
			suffix := fmt.Sprintf("-%d", i)
			if len(base)+len(suffix) > maxSlug {
				slug = strings.Trim(base[:maxSlug-len(suffix)], "-")
			}
			slug += suffix
		}
		if slug == "new" {
			continue
		}
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM causes WHERE slug = ?`, slug).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && id == selfID) {
			return slug, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", ErrConflict
}
