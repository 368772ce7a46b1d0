package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Status is where a cause is in its life.
type Status string

// The statuses a cause moves through.
const (
	Draft     Status = "draft"
	Published Status = "published"
	Closed    Status = "closed"
	Victory   Status = "victory"
)

// Cause is a petition to a decision maker, with a goal.
type Cause struct {
	ID             int64
	OrganiserID    int64
	Slug           string
	Title          string
	Summary        string
	BodyMD         string
	Target         string
	Goal           int64
	EndsAt         *time.Time
	Image          string
	ImageAlt       string
	Lang           string
	Status         Status
	SignatureCount int64
	PublishedAt    *time.Time
	ClosedAt       *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Public reports whether anyone may see the cause.
func (c Cause) Public() bool { return c.Status != Draft }

// Open reports whether the cause takes signatures at now.
func (c Cause) Open(now time.Time) bool {
	return c.Status == Published && (c.EndsAt == nil || now.Before(*c.EndsAt))
}

// EndedAt returns when the cause stopped taking signatures, as of now:
// when it was closed or won, or its end date once past; nil while it is a
// draft or open.
func (c Cause) EndedAt(now time.Time) *time.Time {
	switch {
	case c.Status == Closed || c.Status == Victory:
		if c.ClosedAt != nil {
			return c.ClosedAt
		}
		return &c.UpdatedAt
	case c.Status == Published && c.EndsAt != nil && !now.Before(*c.EndsAt):
		return c.EndsAt
	}
	return nil
}

const causeColumns = `id, organiser_id, slug, title, summary, body_md, target, goal, ends_at, image, image_alt, lang,
	status, signature_count, published_at, closed_at, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanCause(row scanner) (Cause, error) {
	var c Cause
	var endsAt, publishedAt, closedAt sql.NullTime
	err := row.Scan(&c.ID, &c.OrganiserID, &c.Slug, &c.Title, &c.Summary, &c.BodyMD, &c.Target, &c.Goal, &endsAt,
		&c.Image, &c.ImageAlt, &c.Lang, &c.Status, &c.SignatureCount, &publishedAt, &closedAt, &c.CreatedAt, &c.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Cause{}, ErrNotFound
	}
	if err != nil {
		return Cause{}, err
	}
	c.EndsAt, c.PublishedAt, c.ClosedAt = timePtr(endsAt), timePtr(publishedAt), timePtr(closedAt)
	return c, nil
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

// FindCauseBySlug returns the cause with the given slug, in any status.
func (s *Store) FindCauseBySlug(ctx context.Context, slug string) (Cause, error) {
	c, err := scanCause(s.r.QueryRowContext(ctx, `SELECT `+causeColumns+` FROM causes WHERE slug = ?`, slug))
	if err != nil {
		return Cause{}, fmt.Errorf("find cause %q: %w", slug, err)
	}
	return c, nil
}

// Field limits for causes.
const (
	MaxTitle   = 120
	MaxSummary = 280
	MaxTarget  = 200
	MaxBody    = 50000
	MaxGoal    = 100_000_000
)

// CauseInput is what an organiser types into the cause form.
type CauseInput struct {
	Title    string
	Summary  string
	BodyMD   string
	Target   string
	Goal     int64
	EndsAt   *time.Time
	ImageAlt string
	Lang     string
}

// Validate checks the input, returning one error per field.
func (in CauseInput) Validate(now time.Time) FormErrors {
	errs := FormErrors{}
	checkText(errs, "title", in.Title, 1, MaxTitle)
	checkText(errs, "summary", in.Summary, 1, MaxSummary)
	checkText(errs, "target", in.Target, 1, MaxTarget)
	checkMultiline(errs, "body", in.BodyMD, MaxBody)
	checkText(errs, "image_alt", in.ImageAlt, 0, 200)
	if in.Goal < 1 || in.Goal > MaxGoal {
		errs["goal"] = Problem{ID: "CauseErrGoal", Max: MaxGoal}
	}
	if in.EndsAt != nil && !in.EndsAt.After(now) {
		errs["ends_at"] = Problem{ID: "CauseErrEndsAt"}
	}
	return errs
}

// NextGoal is the goal the progress bar shows: the organiser's goal until it
// is reached, then the next step of 100, 250, 500, 1k, 2.5k, 5k, 10k …
func NextGoal(count, goal int64) int64 {
	if count < goal {
		return goal
	}
	for base := int64(100); base <= 1e15; base *= 10 {
		for _, step := range []int64{base, base * 5 / 2, base * 5} {
			if step > count {
				return step
			}
		}
	}
	return count + 1
}

// ListPublished returns published, closed and victorious causes, newest first.
func (s *Store) ListPublished(ctx context.Context, limit int) ([]Cause, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+causeColumns+` FROM causes
		WHERE status IN ('published', 'closed', 'victory') ORDER BY published_at DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list causes: %w", err)
	}
	return collectCauses(rows)
}

// ListByOrganiser returns an organiser's causes, or every cause when
// organiserID is 0, newest first.
func (s *Store) ListByOrganiser(ctx context.Context, organiserID int64) ([]Cause, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+causeColumns+` FROM causes
		WHERE ? = 0 OR organiser_id = ? ORDER BY created_at DESC, id DESC`, organiserID, organiserID)
	if err != nil {
		return nil, fmt.Errorf("list organiser causes: %w", err)
	}
	return collectCauses(rows)
}

func collectCauses(rows *sql.Rows) ([]Cause, error) {
	defer rows.Close()
	var out []Cause
	for rows.Next() {
		c, err := scanCause(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CreateCause saves a new draft with a unique slug made from its title.
func (s *Store) CreateCause(ctx context.Context, organiserID int64, in CauseInput, image string) (Cause, error) {
	now := s.now()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Cause{}, fmt.Errorf("create cause: %w", err)
	}
	defer tx.Rollback()
	slug, err := uniqueSlug(ctx, tx, Slugify(in.Title), 0)
	if err != nil {
		return Cause{}, fmt.Errorf("create cause: %w", err)
	}
	c, err := scanCause(tx.QueryRowContext(ctx, `INSERT INTO causes
		(organiser_id, slug, title, summary, body_md, target, goal, ends_at, image, image_alt, lang, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?) RETURNING `+causeColumns,
		organiserID, slug, in.Title, in.Summary, in.BodyMD, in.Target, in.Goal, nullTime(in.EndsAt), image, in.ImageAlt, in.Lang, now, now))
	if err != nil {
		return Cause{}, fmt.Errorf("create cause: %w", err)
	}
	return c, tx.Commit()
}

// UpdateCause saves an edit. A draft's slug follows its title; a published
// cause's slug never changes. An empty image keeps the current one. It also
// returns the name of the image the edit replaced, once no cause shows it
// any more, for the caller to delete its file ("" when there is none).
func (s *Store) UpdateCause(ctx context.Context, id int64, in CauseInput, image string) (c Cause, replaced string, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Cause{}, "", fmt.Errorf("update cause: %w", err)
	}
	defer tx.Rollback()
	cur, err := scanCause(tx.QueryRowContext(ctx, `SELECT `+causeColumns+` FROM causes WHERE id = ?`, id))
	if err != nil {
		return Cause{}, "", fmt.Errorf("update cause: %w", err)
	}
	slug := cur.Slug
	if cur.Status == Draft && cur.PublishedAt == nil && Slugify(in.Title) != baseOfSlug(cur.Slug) {
		if slug, err = uniqueSlug(ctx, tx, Slugify(in.Title), id); err != nil {
			return Cause{}, "", fmt.Errorf("update cause: %w", err)
		}
	}
	if image == "" {
		image = cur.Image
	}
	c, err = scanCause(tx.QueryRowContext(ctx, `UPDATE causes SET slug = ?, title = ?, summary = ?, body_md = ?, target = ?,
		goal = ?, ends_at = ?, image = ?, image_alt = ?, updated_at = ? WHERE id = ? RETURNING `+causeColumns,
		slug, in.Title, in.Summary, in.BodyMD, in.Target, in.Goal, nullTime(in.EndsAt), image, in.ImageAlt, s.now(), id))
	if err != nil {
		return Cause{}, "", fmt.Errorf("update cause: %w", err)
	}
	if cur.Image != "" && cur.Image != image {
		var users int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM causes WHERE image = ?`, cur.Image).Scan(&users); err != nil {
			return Cause{}, "", fmt.Errorf("update cause: %w", err)
		}
		if users == 0 {
			replaced = cur.Image
		}
	}
	if err := tx.Commit(); err != nil {
		return Cause{}, "", fmt.Errorf("update cause: %w", err)
	}
	s.changed(Change{CauseID: c.ID})
	return c, replaced, nil
}

// imageViewers says who may see an uploaded image: the cause showing it,
// its organiser, and whether the cause is public.
type imageViewers struct {
	OrganiserID int64
	Public      bool
}

// findImageViewers returns who may see the uploaded image with the given
// name, or ErrNotFound when no cause shows it.
func (s *Store) findImageViewers(ctx context.Context, name string) (imageViewers, error) {
	var v imageViewers
	var status Status
	err := s.r.QueryRowContext(ctx, `SELECT organiser_id, status FROM causes WHERE image = ? ORDER BY id LIMIT 1`, name).
		Scan(&v.OrganiserID, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("find image %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("find image %q: %w", name, err)
	}
	v.Public = Cause{Status: status}.Public()
	return v, nil
}

// ErrTransition is returned for a status change a cause cannot make.
var ErrTransition = errors.New("status change not allowed")

// SetStatus moves a cause to a new status: publish a draft, close or declare
// victory on a published cause, or reopen a closed one whose end date has not
// passed.
func (s *Store) SetStatus(ctx context.Context, id int64, to Status) (Cause, error) {
	now := s.now()
	var from []Status
	switch to {
	case Published:
		from = []Status{Draft, Closed}
	case Closed:
		from = []Status{Published}
	case Victory:
		from = []Status{Published, Closed}
	default:
		return Cause{}, ErrTransition
	}
	c, err := scanCause(s.w.QueryRowContext(ctx, `UPDATE causes SET status = ?,
		published_at = CASE WHEN ? = 'published' AND published_at IS NULL THEN ? ELSE published_at END,
		closed_at = CASE WHEN ? = 'published' THEN NULL WHEN closed_at IS NULL THEN ? ELSE closed_at END,
		updated_at = ?
		WHERE id = ? AND status IN (?, ?) AND (? <> 'published' OR ends_at IS NULL OR ends_at > ?)
		RETURNING `+causeColumns,
		to, to, now, to, now, now, id, from[0], from[len(from)-1], to, now))
	if errors.Is(err, ErrNotFound) {
		return Cause{}, ErrTransition
	}
	if err != nil {
		return Cause{}, fmt.Errorf("set cause status: %w", err)
	}
	s.changed(Change{CauseID: c.ID})
	return c, nil
}

// CloseExpired closes published causes whose end date has passed, and
// returns how many it closed.
func (s *Store) CloseExpired(ctx context.Context) (int64, error) {
	now := s.now()
	rows, err := s.w.QueryContext(ctx, `UPDATE causes SET status = 'closed', closed_at = ends_at, updated_at = ?
		WHERE status = 'published' AND ends_at IS NOT NULL AND ends_at <= ? RETURNING id`, now, now)
	if err != nil {
		return 0, fmt.Errorf("close expired causes: %w", err)
	}
	defer rows.Close()
	var closed []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return 0, fmt.Errorf("close expired causes: %w", err)
		}
		closed = append(closed, id)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("close expired causes: %w", err)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("close expired causes: %w", err)
	}
	for _, id := range closed {
		s.changed(Change{CauseID: id})
	}
	return int64(len(closed)), nil
}

// CountCauses returns how many causes exist, in any status.
func (s *Store) CountCauses(ctx context.Context) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM causes`).Scan(&n)
	return n, err
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// FindCauseByID returns the cause with the given id.
func (s *Store) FindCauseByID(ctx context.Context, id int64) (Cause, error) {
	c, err := scanCause(s.r.QueryRowContext(ctx, `SELECT `+causeColumns+` FROM causes WHERE id = ?`, id))
	if err != nil {
		return Cause{}, fmt.Errorf("find cause %d: %w", id, err)
	}
	return c, nil
}
