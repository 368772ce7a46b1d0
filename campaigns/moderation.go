package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rallyhq/rally/notify"
)

// Moderation acts, as the log records them.
const (
	ActHideCause     = "hide_cause"
	ActShowCause     = "show_cause"
	ActHideComment   = "hide_comment"
	ActShowComment   = "show_comment"
	ActInvalidate    = "invalidate"
	ActUndo          = "undo_invalidation"
	ActRelease       = "release"
	ActDismissReport = "dismiss_report"
)

// logModeration records an admin's act in tx.
func logModeration(ctx context.Context, tx *sql.Tx, adminID int64, action string, causeID int64, detail string, now time.Time) error {
	var cause any
	if causeID != 0 {
		cause = causeID
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO moderation_log (admin_id, action, cause_id, detail, created_at)
		VALUES (?, ?, ?, ?, ?)`, adminID, action, cause, detail, now); err != nil {
		return fmt.Errorf("log moderation: %w", err)
	}
	return nil
}

// MaxModerationReason bounds the reason an admin gives for hiding a cause,
// in characters.
const MaxModerationReason = 1000

// HideCause hides a cause from the public with a reason its organiser sees:
// its page, JSON, signing and donating answer 404, and lists leave it out.
// Open reports of the cause are resolved by it. Hiding a hidden cause
// changes its reason.
func (s *Store) HideCause(ctx context.Context, admin Organiser, causeID int64, reason string) error {
	now := s.now()
	err := s.moderate(ctx, causeID, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE causes SET hidden_at = coalesce(hidden_at, ?), hidden_reason = ?, updated_at = ?
			WHERE id = ?`, now, reason, now, causeID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `UPDATE cause_reports SET resolved_at = ?, resolved_by = ?, resolution = 'hidden'
			WHERE cause_id = ? AND resolved_at IS NULL`, now, admin.ID, causeID); err != nil {
			return err
		}
		return logModeration(ctx, tx, admin.ID, ActHideCause, causeID, reason, now)
	})
	if err != nil {
		return fmt.Errorf("hide cause: %w", err)
	}
	return nil
}

// ShowCause makes a hidden cause public again.
func (s *Store) ShowCause(ctx context.Context, admin Organiser, causeID int64) error {
	now := s.now()
	err := s.moderate(ctx, causeID, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE causes SET hidden_at = NULL, hidden_reason = '', updated_at = ?
			WHERE id = ? AND hidden_at IS NOT NULL`, now, causeID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return ErrNotFound
		}
		return logModeration(ctx, tx, admin.ID, ActShowCause, causeID, "", now)
	})
	if err != nil {
		return fmt.Errorf("show cause: %w", err)
	}
	return nil
}

// Report is someone's report of a cause.
type Report struct {
	ID         int64
	Cause      Cause
	Reason     string
	Email      string
	CreatedAt  time.Time
	ResolvedAt *time.Time
	Resolution string
}

// MaxReportReason bounds a report's reason, in characters.
const MaxReportReason = 2000

// ReportInput is what "report this cause" sends.
type ReportInput struct {
	Reason string
	Email  string
	Lang   string
}

// Validate checks the reason (required) and the address (optional), which
// it normalises.
func (in *ReportInput) Validate() FormErrors {
	errs := FormErrors{}
	in.Reason = strings.TrimSpace(in.Reason)
	switch {
	case in.Reason == "":
		errs["reason"] = Problem{ID: "ReportErrReason"}
	case !utf8.ValidString(in.Reason) || utf8.RuneCountInString(in.Reason) > MaxReportReason:
		errs["reason"] = Problem{ID: "FormErrTooLong", Max: MaxReportReason}
	}
	if strings.TrimSpace(in.Email) != "" {
		e, err := notify.NormalizeEmail(in.Email)
		if err != nil {
			errs["email"] = Problem{ID: "SignErrEmail"}
		} else {
			in.Email = e
		}
	} else {
		in.Email = ""
	}
	return errs
}

// CreateReport records a report of a cause for the admins' queue.
func (s *Store) CreateReport(ctx context.Context, causeID int64, in ReportInput) error {
	key := ""
	if in.Email != "" {
		key = notify.EmailKey(in.Email)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO cause_reports (cause_id, reason, email, email_key, lang, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, causeID, in.Reason, in.Email, key, in.Lang, s.now())
	if err != nil {
		return fmt.Errorf("report cause: %w", err)
	}
	return nil
}

// Reports returns reports, newest first: the open ones, or with resolved
// those already dealt with too; of one cause, or of all when causeID is 0.
func (s *Store) Reports(ctx context.Context, causeID int64, resolved bool, limit int) ([]Report, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT r.id, r.reason, r.email, r.created_at, r.resolved_at, r.resolution, `+prefixed("c.", causeColumns)+`
		FROM cause_reports r JOIN causes c ON c.id = r.cause_id
		WHERE (? = 0 OR r.cause_id = ?) AND (? OR r.resolved_at IS NULL)
		ORDER BY r.id DESC LIMIT ?`, causeID, causeID, resolved, limit)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		var r Report
		var resolvedAt sql.NullTime
		var cz Cause
		err := scanInto(rows, &cz, &r.ID, &r.Reason, &r.Email, &r.CreatedAt, &resolvedAt, &r.Resolution)
		if err != nil {
			return nil, fmt.Errorf("reports: %w", err)
		}
		r.Cause, r.ResolvedAt = cz, timePtr(resolvedAt)
		out = append(out, r)
	}
	return out, rows.Err()
}

// DismissReport marks a report dealt with, the cause left as it is.
func (s *Store) DismissReport(ctx context.Context, admin Organiser, reportID int64) error {
	now := s.now()
	var causeID int64
	err := s.w.QueryRowContext(ctx, `SELECT cause_id FROM cause_reports WHERE id = ? AND resolved_at IS NULL`, reportID).Scan(&causeID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("dismiss report: %w", ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dismiss report: %w", err)
	}
	err = s.moderate(ctx, 0, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE cause_reports SET resolved_at = ?, resolved_by = ?, resolution = 'dismissed'
			WHERE id = ? AND resolved_at IS NULL`, now, admin.ID, reportID); err != nil {
			return err
		}
		return logModeration(ctx, tx, admin.ID, ActDismissReport, causeID, fmt.Sprintf("report %d", reportID), now)
	})
	if err != nil {
		return fmt.Errorf("dismiss report: %w", err)
	}
	return nil
}

// LogEntry is one act of moderation.
type LogEntry struct {
	ID        int64
	Admin     string
	Action    string
	CauseSlug string
	Detail    string
	CreatedAt time.Time
}

// ActionID is the catalogue id that names the entry's act.
func (e LogEntry) ActionID() string {
	id := "AdminAct"
	for _, w := range strings.Split(e.Action, "_") {
		if w != "" {
			id += strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return id
}

// ModerationLog returns the latest acts of moderation, of one cause or of
// all when causeID is 0, newest first.
func (s *Store) ModerationLog(ctx context.Context, causeID int64, limit int) ([]LogEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT l.id, o.name, l.action, coalesce(c.slug, ''), l.detail, l.created_at
		FROM moderation_log l JOIN organisers o ON o.id = l.admin_id LEFT JOIN causes c ON c.id = l.cause_id
		WHERE ? = 0 OR l.cause_id = ? ORDER BY l.id DESC LIMIT ?`, causeID, causeID, limit)
	if err != nil {
		return nil, fmt.Errorf("moderation log: %w", err)
	}
	defer rows.Close()
	var out []LogEntry
	for rows.Next() {
		var e LogEntry
		if err := rows.Scan(&e.ID, &e.Admin, &e.Action, &e.CauseSlug, &e.Detail, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("moderation log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// prefixed puts prefix before each of the comma-separated columns.
func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// scanInto scans a row of the given values followed by causeColumns.
func scanInto(row scanner, cz *Cause, dest ...any) error {
	var c Cause
	var err error
	c, err = scanCause(scanFunc(func(cols ...any) error { return row.Scan(append(dest, cols...)...) }))
	*cz = c
	return err
}

// scanFunc makes a scanner of a function.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }
