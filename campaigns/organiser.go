package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rallyhq/rally/notify"
)

// Organiser is a person who runs causes. Admins see and change every cause.
type Organiser struct {
	ID               int64
	Name             string
	Email            string
	Admin            bool
	EmailConfirmedAt *time.Time
	CreatedAt        time.Time
}

// EmailConfirmed reports whether the organiser has proved they own their
// address; their causes cannot be published before.
func (o Organiser) EmailConfirmed() bool { return o.EmailConfirmedAt != nil }

// InvalidOrganiserError is returned by CreateOrganiser for input that fails
// validation; Fields says what is wrong with each field.
type InvalidOrganiserError struct{ Fields FormErrors }

// Error lists the fields and message IDs, sorted by field.
func (e *InvalidOrganiserError) Error() string {
	fields := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	var b strings.Builder
	b.WriteString("invalid organiser:")
	for _, f := range fields {
		b.WriteString(" " + f + " (" + e.Fields[f].ID + ")")
	}
	return b.String()
}

// Limits on what an organiser types.
const (
	MaxOrganiserName  = 100  // characters
	MinPasswordLength = 10   // characters
	MaxPasswordBytes  = 1024 // bytes: argon2 reads all of it
)

// How long the random tokens of accounts stay valid.
const (
	emailTokenTTL = 14 * 24 * time.Hour
	sessionTTL    = 30 * 24 * time.Hour
)

// OrganiserInput is what a person types to open an organiser account.
type OrganiserInput struct {
	Name     string
	Email    string
	Password string
}

// Validate checks in, trims the name and normalises the email (see
// notify.NormalizeEmail), returning one problem per field: "name", "email",
// "password".
func (in *OrganiserInput) Validate() FormErrors {
	errs := FormErrors{}
	// Bidirectional controls would turn around whatever follows the name
	// where it is shown; every other character stays as typed.
	name := strings.TrimSpace(notify.StripBidiControls(in.Name))
	switch {
	case !utf8.ValidString(name) || strings.IndexFunc(name, isControl) >= 0:
		errs["name"] = Problem{ID: "AccountErrNameInvalid"}
	case name == "":
		errs["name"] = Problem{ID: "AccountErrNameRequired"}
	case utf8.RuneCountInString(name) > MaxOrganiserName:
		errs["name"] = Problem{ID: "AccountErrNameTooLong", Max: MaxOrganiserName}
	default:
		in.Name = name
	}
	if email, p, ok := validateEmail(in.Email); ok {
		in.Email = email
	} else {
		errs["email"] = p
	}
	if p, ok := validatePassword(in.Password); !ok {
		errs["password"] = p
	}
	return errs
}

// validateEmail normalises an organiser's address (see notify.NormalizeEmail), or
// says what is wrong with it.
func validateEmail(s string) (string, Problem, bool) {
	email, err := notify.NormalizeEmail(s)
	switch {
	case strings.TrimSpace(s) == "":
		return "", Problem{ID: "AccountErrEmailRequired"}, false
	case err != nil || !utf8.ValidString(email):
		return "", Problem{ID: "AccountErrEmailInvalid"}, false
	}
	return email, Problem{}, true
}

// validatePassword says what is wrong with a new password, if anything.
func validatePassword(pw string) (Problem, bool) {
	switch {
	case !utf8.ValidString(pw):
		return Problem{ID: "AccountErrPasswordInvalid"}, false
	case len(pw) > MaxPasswordBytes:
		return Problem{ID: "AccountErrPasswordTooLong", Max: MaxPasswordBytes}, false
	case utf8.RuneCountInString(pw) < MinPasswordLength:
		return Problem{ID: "AccountErrPasswordTooShort", Max: MinPasswordLength}, false
	}
	return Problem{}, true
}

const organiserColumns = `o.id, o.name, o.email, o.is_admin, o.email_confirmed_at, o.created_at`

func scanOrganiser(row *sql.Row, extra ...any) (Organiser, error) {
	var o Organiser
	var confirmed sql.NullTime
	dest := append([]any{&o.ID, &o.Name, &o.Email, &o.Admin, &confirmed, &o.CreatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Organiser{}, ErrNotFound
		}
		return Organiser{}, err
	}
	o.EmailConfirmedAt = timePtr(confirmed)
	o.CreatedAt = o.CreatedAt.UTC()
	return o, nil
}

// CreateOrganiser validates and stores a new organiser. It returns an
// *InvalidOrganiserError for bad input and ErrConflict when an organiser with the same email key
// exists. A confirmed organiser needs no confirmation mail.
func (s *Store) CreateOrganiser(ctx context.Context, name, email, password string, admin, confirmed bool) (Organiser, error) {
	in := OrganiserInput{Name: name, Email: email, Password: password}
	if errs := in.Validate(); errs.Any() {
		return Organiser{}, &InvalidOrganiserError{Fields: errs}
	}
	hash, err := hashPassword(in.Password)
	if err != nil {
		return Organiser{}, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Organiser{}, fmt.Errorf("create organiser: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	var confirmedAt *time.Time
	if confirmed {
		confirmedAt = &now
	}
	o, err := insertOrganiser(ctx, tx, in, hash, admin, confirmedAt, now)
	if err != nil {
		return Organiser{}, fmt.Errorf("create organiser: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Organiser{}, fmt.Errorf("create organiser: %w", err)
	}
	return o, nil
}

func insertOrganiser(ctx context.Context, tx *sql.Tx, in OrganiserInput, passwordHash string, admin bool, confirmedAt *time.Time, now time.Time) (Organiser, error) {
	o := Organiser{Name: in.Name, Email: in.Email, Admin: admin, CreatedAt: now}
	err := tx.QueryRowContext(ctx, `INSERT INTO organisers
		(name, email, email_key, password_hash, is_admin, email_confirmed_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		in.Name, in.Email, notify.EmailKey(in.Email), passwordHash, admin, nullTime(confirmedAt), now, now).Scan(&o.ID)
	if err != nil {
		if isUnique(err) {
			return Organiser{}, ErrConflict
		}
		return Organiser{}, err
	}
	o.EmailConfirmedAt = confirmedAt
	return o, nil
}

// FindOrganiser returns the organiser with id, or ErrNotFound.
func (s *Store) FindOrganiser(ctx context.Context, id int64) (Organiser, error) {
	o, err := scanOrganiser(s.r.QueryRowContext(ctx,
		`SELECT `+organiserColumns+` FROM organisers o WHERE o.id = ?`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Organiser{}, fmt.Errorf("find organiser: %w", err)
	}
	return o, err
}

// organiserPasswordHash returns the password hash of organiser id.
func (s *Store) organiserPasswordHash(ctx context.Context, id int64) (string, error) {
	var hash string
	err := s.r.QueryRowContext(ctx, `SELECT password_hash FROM organisers WHERE id = ?`, id).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("find password hash: %w", err)
	}
	return hash, nil
}

// organiserCredentials returns the organiser whose email has the comparison
// key emailKey, with their password hash.
func (s *Store) organiserCredentials(ctx context.Context, emailKey string) (Organiser, string, error) {
	var hash string
	o, err := scanOrganiser(s.r.QueryRowContext(ctx,
		`SELECT `+organiserColumns+`, o.password_hash FROM organisers o WHERE o.email_key = ?`, emailKey), &hash)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Organiser{}, "", fmt.Errorf("find organiser credentials: %w", err)
	}
	return o, hash, err
}

func insertEmailToken(ctx context.Context, tx *sql.Tx, organiserID int64, token string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO organiser_email_tokens (token_hash, organiser_id, created_at, expires_at)
		VALUES (?, ?, ?, ?)`, notify.HashToken(token), organiserID, now, now.Add(emailTokenTTL))
	if err != nil {
		return fmt.Errorf("insert email token: %w", err)
	}
	return nil
}

// emailTokenOrganiser returns the organiser an email confirmation token was
// made for: ErrNotFound for an unknown token, ErrExpired (with the
// organiser) for an expired one.
func (s *Store) emailTokenOrganiser(ctx context.Context, token string) (Organiser, error) {
	var expires time.Time
	o, err := scanOrganiser(s.r.QueryRowContext(ctx, `SELECT `+organiserColumns+`, t.expires_at
		FROM organiser_email_tokens t JOIN organisers o ON o.id = t.organiser_id
		WHERE t.token_hash = ?`, notify.HashToken(token)), &expires)
	switch {
	case errors.Is(err, ErrNotFound):
		return Organiser{}, err
	case err != nil:
		return Organiser{}, fmt.Errorf("find email token: %w", err)
	case !s.now().Before(expires):
		return o, ErrExpired
	}
	return o, nil
}

// confirmOrganiserEmail marks the address of the organiser token was made for
// as confirmed. Confirming again changes nothing and succeeds.
func (s *Store) confirmOrganiserEmail(ctx context.Context, token string) (Organiser, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Organiser{}, fmt.Errorf("confirm organiser email: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	var id int64
	var expires time.Time
	err = tx.QueryRowContext(ctx, `SELECT organiser_id, expires_at FROM organiser_email_tokens WHERE token_hash = ?`,
		notify.HashToken(token)).Scan(&id, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Organiser{}, ErrNotFound
	case err != nil:
		return Organiser{}, fmt.Errorf("confirm organiser email: %w", err)
	case !now.Before(expires):
		return Organiser{}, ErrExpired
	}
	if _, err := tx.ExecContext(ctx, `UPDATE organisers SET email_confirmed_at = ?, updated_at = ?
		WHERE id = ? AND email_confirmed_at IS NULL`, now, now, id); err != nil {
		return Organiser{}, fmt.Errorf("confirm organiser email: %w", err)
	}
	o, err := scanOrganiser(tx.QueryRowContext(ctx, `SELECT `+organiserColumns+` FROM organisers o WHERE o.id = ?`, id))
	if err != nil {
		return Organiser{}, fmt.Errorf("confirm organiser email: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Organiser{}, fmt.Errorf("confirm organiser email: %w", err)
	}
	return o, nil
}

// renewEmailToken stores a new confirmation token for organiserID and queues
// mail carrying it, unless the last token was made less than minGap ago; it
// reports whether it did.
func (s *Store) renewEmailToken(ctx context.Context, organiserID int64, token string, mail notify.Message, minGap time.Duration) (bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("renew email token: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	var recent int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM organiser_email_tokens
		WHERE organiser_id = ? AND created_at > ?`, organiserID, now.Add(-minGap)).Scan(&recent); err != nil {
		return false, fmt.Errorf("renew email token: %w", err)
	}
	if recent > 0 {
		return false, nil
	}
	if err := insertEmailToken(ctx, tx, organiserID, token, now); err != nil {
		return false, fmt.Errorf("renew email token: %w", err)
	}
	if err := notify.Enqueue(ctx, tx, mail); err != nil {
		return false, fmt.Errorf("renew email token: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("renew email token: %w", err)
	}
	return true, nil
}
