package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is returned for a blast (or delivery) that does not exist.
var ErrNotFound = errors.New("not found")

// errWrongStatus is returned for an action the blast's status does not
// allow (editing a blast that was sent, pausing a draft).
var errWrongStatus = errors.New("not possible in the blast's status")

const blastColumns = `id, cause_id, organiser_id, status, subject, body_md, cta_label, cta_url, subject_fr, body_fr,
	cta_label_fr, countries, track_opens, cause_title, cause_url, links, from_name, reply_to, send_at, tz, audience_size,
	recipients, audience_done, audience_pos, started_at, finished_at, created_at, updated_at`

type rowScanner interface{ Scan(...any) error }

func scanBlast(row rowScanner) (Blast, error) {
	var b Blast
	var countries, links string
	var sendAt, started, finished sql.NullTime
	var size int64
	err := row.Scan(&b.ID, &b.CauseID, &b.OrganiserID, &b.Status, &b.Subject, &b.Body, &b.CTALabel, &b.CTAURL,
		&b.SubjectFR, &b.BodyFR, &b.CTALabelFR, &countries, &b.TrackOpens, &b.CauseTitle, &b.CauseURL, &links,
		&b.FromName, &b.ReplyTo, &sendAt, &b.TZ, &size, &b.Recipients, &b.AudienceDone, &b.AudiencePos, &started,
		&finished, &b.CreatedAt, &b.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return b, ErrNotFound
	}
	if err != nil {
		return b, fmt.Errorf("read blast: %w", err)
	}
	if countries != "" {
		b.Countries = strings.Split(countries, ",")
	}
	if err := json.Unmarshal([]byte(links), &b.Links); err != nil {
		return b, fmt.Errorf("read blast %d links: %w", b.ID, err)
	}
	if !b.AudienceDone && size > b.Recipients {
		b.Recipients = size
	}
	b.SendAt, b.StartedAt, b.FinishedAt = nullTime(sendAt), nullTime(started), nullTime(finished)
	return b, nil
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func linksJSON(links []string) string {
	if links == nil {
		links = []string{}
	}
	b, _ := json.Marshal(links)
	return string(b)
}

// findBlast reads one blast.
func findBlast(ctx context.Context, db *sql.DB, id int64) (Blast, error) {
	return scanBlast(db.QueryRowContext(ctx, `SELECT `+blastColumns+` FROM blasts WHERE id = ?`, id))
}

// createBlast saves a new draft of the cause's, by organiserID.
func (s *Blasts) createBlast(ctx context.Context, cz Cause, organiserID int64, in BlastInput) (int64, error) {
	now := s.now()
	links := blastLinks(cz.URL, in)
	var id int64
	err := s.w.QueryRowContext(ctx, `INSERT INTO blasts (cause_id, organiser_id, status, subject, body_md, cta_label, cta_url,
		subject_fr, body_fr, cta_label_fr, countries, track_opens, cause_title, cause_url, links, created_at, updated_at)
		VALUES (?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		cz.ID, organiserID, in.Subject, in.Body, in.CTALabel, in.CTAURL, in.SubjectFR, in.BodyFR, in.CTALabelFR,
		strings.Join(in.Countries, ","), in.TrackOpens, cz.Title, cz.URL, linksJSON(links), now, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("save blast: %w", err)
	}
	return id, nil
}

// updateBlast replaces a draft's content; a blast no longer a draft gives
// errWrongStatus.
func (s *Blasts) updateBlast(ctx context.Context, id int64, cz Cause, in BlastInput) error {
	res, err := s.w.ExecContext(ctx, `UPDATE blasts SET subject = ?, body_md = ?, cta_label = ?, cta_url = ?, subject_fr = ?,
		body_fr = ?, cta_label_fr = ?, countries = ?, track_opens = ?, cause_title = ?, cause_url = ?, links = ?, updated_at = ?
		WHERE id = ? AND status = 'draft'`,
		in.Subject, in.Body, in.CTALabel, in.CTAURL, in.SubjectFR, in.BodyFR, in.CTALabelFR, strings.Join(in.Countries, ","),
		in.TrackOpens, cz.Title, cz.URL, linksJSON(blastLinks(cz.URL, in)), s.now(), id)
	if err != nil {
		return fmt.Errorf("save blast: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errWrongStatus
	}
	s.forget(id)
	return nil
}

// listBlasts returns a cause's blasts, newest first.
func (s *Blasts) listBlasts(ctx context.Context, causeID int64) ([]Blast, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+blastColumns+` FROM blasts WHERE cause_id = ? ORDER BY id DESC`, causeID)
	if err != nil {
		return nil, fmt.Errorf("list blasts: %w", err)
	}
	defer rows.Close()
	var out []Blast
	for rows.Next() {
		b, err := scanBlast(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list blasts: %w", err)
	}
	return out, nil
}

// BlastCounts are a blast's figures: its deliveries by state, its clicks
// and its unsubscribes.
type BlastCounts struct {
	Queued     int64 // not yet handed to the mail server, retries included
	Sent       int64
	Failed     int64
	Bounced    int64
	Suppressed int64
	Cancelled  int64
	// Clicks and UniqueClickers count every click, HumanClicks and
	// HumanClickers those that do not look like a mail scanner's.
	Clicks         int64
	UniqueClickers int64
	HumanClicks    int64
	HumanClickers  int64
	Unsubscribes   int64
	Opens          int64 // people whose mail showed its image, when opens are tracked
}

// Done is how many deliveries have an outcome.
func (c BlastCounts) Done() int64 { return c.Sent + c.Failed + c.Bounced + c.Suppressed }

// counts reads a blast's figures.
func (s *Blasts) counts(ctx context.Context, id int64) (BlastCounts, error) {
	var c BlastCounts
	rows, err := s.r.QueryContext(ctx, `SELECT state, count(*) FROM blast_deliveries WHERE blast_id = ? GROUP BY state`, id)
	if err != nil {
		return c, fmt.Errorf("count deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return c, fmt.Errorf("count deliveries: %w", err)
		}
		switch state {
		case deliveryQueued, deliverySending:
			c.Queued += n
		case deliverySent:
			c.Sent = n
		case deliveryFailed:
			c.Failed = n
		case deliveryBounced:
			c.Bounced = n
		case deliverySuppressed:
			c.Suppressed = n
		case deliveryCancelled:
			c.Cancelled = n
		}
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("count deliveries: %w", err)
	}
	err = s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM blast_clicks WHERE blast_id = ?),
		(SELECT count(DISTINCT delivery_id) FROM blast_clicks WHERE blast_id = ?),
		(SELECT count(*) FROM blast_clicks WHERE blast_id = ? AND scanner = 0),
		(SELECT count(DISTINCT delivery_id) FROM blast_clicks WHERE blast_id = ? AND scanner = 0),
		(SELECT count(*) FROM suppressions WHERE blast_id = ? AND reason = 'unsubscribe'),
		(SELECT count(*) FROM blast_deliveries WHERE blast_id = ? AND opened_at IS NOT NULL)`,
		id, id, id, id, id, id).Scan(&c.Clicks, &c.UniqueClickers, &c.HumanClicks, &c.HumanClickers, &c.Unsubscribes, &c.Opens)
	if err != nil {
		return c, fmt.Errorf("count clicks: %w", err)
	}
	return c, nil
}

// LinkStats counts the clicks on one of a blast's links.
type LinkStats struct {
	URL         string
	CTA         bool
	Clicks      int64
	HumanClicks int64
}

// linkStats counts the clicks of each of a blast's links (the call to
// action first), leaving out the hidden link no person sees.
func (s *Blasts) linkStats(ctx context.Context, b Blast) ([]LinkStats, error) {
	out := make([]LinkStats, 0, len(b.Links))
	for i := linkCTA; i < len(b.Links); i++ {
		out = append(out, LinkStats{URL: b.Links[i], CTA: i == linkCTA})
	}
	rows, err := s.r.QueryContext(ctx, `SELECT link, count(*), sum(scanner = 0) FROM blast_clicks WHERE blast_id = ? GROUP BY link`, b.ID)
	if err != nil {
		return nil, fmt.Errorf("count link clicks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var link int
		var all, human int64
		if err := rows.Scan(&link, &all, &human); err != nil {
			return nil, fmt.Errorf("count link clicks: %w", err)
		}
		if link >= linkCTA && link-linkCTA < len(out) {
			out[link-linkCTA].Clicks, out[link-linkCTA].HumanClicks = all, human
		}
	}
	return out, rows.Err()
}

// sender is who sends a blast: their name and address go in From and
// Reply-To.
type sender struct {
	ID    int64
	Name  string
	Email string
}

// startBlast sends a draft (or a scheduled blast) now, or schedules it for
// sendAt, fixing who it is from, the cause's title and link and the links
// it may lead to, and the audience counted for it.
func (s *Blasts) startBlast(ctx context.Context, b Blast, cz Cause, from sender, sendAt *time.Time, tz string, audience int64) error {
	now := s.now()
	status, started := BlastSending, any(now)
	var at any
	if sendAt != nil && sendAt.After(now) {
		status, started, at = BlastScheduled, nil, sendAt.UTC()
	}
	res, err := s.w.ExecContext(ctx, `UPDATE blasts SET status = ?, organiser_id = ?, from_name = ?, reply_to = ?, cause_title = ?,
		cause_url = ?, links = ?, send_at = ?, tz = ?, audience_size = ?, started_at = ?, updated_at = ?
		WHERE id = ? AND status IN ('draft', 'scheduled')`,
		status, from.ID, from.Name, from.Email, cz.Title, cz.URL, linksJSON(blastLinks(cz.URL, b.BlastInput)), at, tz, audience,
		started, now, b.ID)
	if err != nil {
		return fmt.Errorf("send blast: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errWrongStatus
	}
	s.forget(b.ID)
	s.Kick()
	return nil
}

// organiserZone is the time zone the organiser last scheduled a blast in,
// or "" if they never did: the zone the send form offers them first.
func (s *Blasts) organiserZone(ctx context.Context, organiserID int64) (string, error) {
	var tz string
	err := s.r.QueryRowContext(ctx, `SELECT tz FROM blasts WHERE organiser_id = ? AND send_at IS NOT NULL AND tz <> ''
		ORDER BY updated_at DESC, id DESC LIMIT 1`, organiserID).Scan(&tz)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("organiser's zone: %w", err)
	}
	return tz, nil
}

// pause stops a sending blast: its messages not yet taken by the worker
// come back out of the outbox. At most the worker's current round (a
// second's worth, or one batch) still goes out.
func (s *Blasts) pause(ctx context.Context, id int64) error {
	return s.transition(ctx, id, BlastPaused, []string{BlastSending}, deliveryQueued)
}

// resume sends a paused blast again.
func (s *Blasts) resume(ctx context.Context, id int64) error {
	err := s.transition(ctx, id, BlastSending, []string{BlastPaused}, "")
	s.Kick()
	return err
}

// cancel stops a scheduled, sending or paused blast for good: what was not
// sent is cancelled.
func (s *Blasts) cancel(ctx context.Context, id int64) error {
	return s.transition(ctx, id, BlastCancelled, []string{BlastScheduled, BlastSending, BlastPaused}, deliveryCancelled)
}

// transition moves a blast from one of the statuses in from to status. If
// unsent is set, the blast's messages still waiting in the outbox (not
// leased by the worker) are taken out and their deliveries set to unsent,
// and, for a cancellation, the deliveries not yet in the outbox too.
func (s *Blasts) transition(ctx context.Context, id int64, status string, from []string, unsent string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s blast: %w", status, err)
	}
	defer func() { _ = tx.Rollback() }()
	now := s.now()
	args := []any{status, now, id}
	for _, f := range from {
		args = append(args, f)
	}
	res, err := tx.ExecContext(ctx, `UPDATE blasts SET status = ?, updated_at = ? WHERE id = ? AND status IN (`+
		strings.TrimSuffix(strings.Repeat("?,", len(from)), ",")+`)`, args...)
	if err != nil {
		return fmt.Errorf("%s blast: %w", status, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errWrongStatus
	}
	if unsent != "" {
		if err := takeBack(ctx, tx, id, unsent, now); err != nil {
			return err
		}
		if unsent == deliveryCancelled {
			if _, err := tx.ExecContext(ctx, `UPDATE blast_deliveries SET state = 'cancelled', updated_at = ?
				WHERE blast_id = ? AND state = 'queued'`, now, id); err != nil {
				return fmt.Errorf("cancel blast: %w", err)
			}
		}
	}
	if status == BlastCancelled {
		if _, err := tx.ExecContext(ctx, `UPDATE blasts SET finished_at = ? WHERE id = ?`, now, id); err != nil {
			return fmt.Errorf("cancel blast: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s blast: %w", status, err)
	}
	s.forget(id)
	return nil
}

// takeBack deletes a blast's messages that wait in the outbox, not leased
// by a worker, and sets their deliveries to state.
func takeBack(ctx context.Context, tx *sql.Tx, blastID int64, state string, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `DELETE FROM outbox
		WHERE status = 'queued' AND priority = ? AND template = ? AND leased_until IS NULL AND json_extract(data, '$.blast') = ?
		RETURNING data`, int(Bulk), blastTemplate, strconv.FormatInt(blastID, 10))
	if err != nil {
		return fmt.Errorf("take blast mail back: %w", err)
	}
	var ids []any
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			rows.Close()
			return fmt.Errorf("take blast mail back: %w", err)
		}
		if d, ok := deliveryOf(data); ok {
			ids = append(ids, d)
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("take blast mail back: %w", err)
	}
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := append([]any{state, now}, ids[:n]...)
		if _, err := tx.ExecContext(ctx, `UPDATE blast_deliveries SET state = ?, updated_at = ?
			WHERE state = 'sending' AND id IN (`+strings.TrimSuffix(strings.Repeat("?,", n), ",")+`)`, args...); err != nil {
			return fmt.Errorf("take blast mail back: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// deliveryOf reads the delivery id from a blast message's outbox data.
func deliveryOf(data string) (int64, bool) {
	var d struct {
		Delivery string `json:"delivery"`
	}
	if json.Unmarshal([]byte(data), &d) != nil {
		return 0, false
	}
	id, err := strconv.ParseInt(d.Delivery, 10, 64)
	return id, err == nil && id > 0
}

// retryFailed queues a blast's failed deliveries again (not the bounced
// ones) and sets it sending; it returns how many.
func (s *Blasts) retryFailed(ctx context.Context, id int64) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("retry blast: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	now := s.now()
	res, err := tx.ExecContext(ctx, `UPDATE blast_deliveries SET state = 'queued', attempts = 0, updated_at = ?
		WHERE blast_id = ? AND state = 'failed'`, now, id)
	if err != nil {
		return 0, fmt.Errorf("retry blast: %w", err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE blasts SET status = 'sending', finished_at = NULL, updated_at = ?
			WHERE id = ? AND status = 'sent'`, now, id); err != nil {
			return 0, fmt.Errorf("retry blast: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("retry blast: %w", err)
	}
	s.forget(id)
	s.Kick()
	return n, nil
}

// dailyCap returns how many recipients an organiser may send blasts to in
// a day.
func (s *Blasts) dailyCap(ctx context.Context, organiserID int64) (int64, error) {
	var c int64
	err := s.r.QueryRowContext(ctx, `SELECT daily_cap FROM blast_caps WHERE organiser_id = ?`, organiserID).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return s.cfg.DailyCap, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read blast cap: %w", err)
	}
	return c, nil
}

// usedToday counts the recipients of the organiser's blasts started (or
// scheduled to start) in the last 24 hours.
func (s *Blasts) usedToday(ctx context.Context, organiserID int64) (int64, error) {
	var n int64
	since := s.now().Add(-24 * time.Hour)
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(sum(max(audience_size, recipients)), 0) FROM blasts
		WHERE organiser_id = ? AND (started_at >= ? OR status = 'scheduled')`, organiserID, since).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count blast recipients: %w", err)
	}
	return n, nil
}

// setDailyCap sets an organiser's daily cap.
func (s *Blasts) setDailyCap(ctx context.Context, organiserID, limit int64) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO blast_caps (organiser_id, daily_cap, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (organiser_id) DO UPDATE SET daily_cap = excluded.daily_cap, updated_at = excluded.updated_at`,
		organiserID, limit, s.now())
	if err != nil {
		return fmt.Errorf("set blast cap: %w", err)
	}
	return nil
}

// recordClick counts a click on a link of a delivery, as a scanner's if
// reason says so or it came too early, in a burst or after the hidden
// link. A burst makes the other clicks in it scanners' too.
func (s *Blasts) recordClick(ctx context.Context, blastID, delivery int64, link int, reason string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record click: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	now := s.now()
	var sentAt sql.NullTime
	err = tx.QueryRowContext(ctx, `SELECT sent_at FROM blast_deliveries WHERE id = ? AND blast_id = ?`, delivery, blastID).Scan(&sentAt)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("record click: %w", err)
	}
	if reason == "" && (!sentAt.Valid || now.Sub(sentAt.Time) < scannerEarly) {
		reason = "early"
	}
	if reason == "" {
		var trap, burst int
		err := tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM blast_clicks WHERE blast_id = ? AND delivery_id = ? AND link = ? AND created_at >= ?),
			(SELECT count(*) FROM blast_clicks WHERE blast_id = ? AND delivery_id = ? AND link <> ? AND created_at >= ?)`,
			blastID, delivery, linkTrap, now.Add(-scannerAfterTrap), blastID, delivery, link, now.Add(-scannerBurst)).Scan(&trap, &burst)
		if err != nil {
			return fmt.Errorf("record click: %w", err)
		}
		switch {
		case trap > 0:
			reason = "trap"
		case burst > 0:
			reason = "burst"
		}
	}
	if reason == "burst" {
		// The clicks of this mail on other links a moment ago were part of
		// the same burst.
		if _, err := tx.ExecContext(ctx, `UPDATE blast_clicks SET scanner = 1, reason = 'burst'
			WHERE blast_id = ? AND delivery_id = ? AND link <> ? AND created_at >= ? AND scanner = 0`,
			blastID, delivery, link, now.Add(-scannerBurst)); err != nil {
			return fmt.Errorf("record click: %w", err)
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO blast_clicks (blast_id, delivery_id, link, scanner, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, blastID, delivery, link, reason != "", reason, now)
	if err != nil {
		return fmt.Errorf("record click: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record click: %w", err)
	}
	return nil
}

// recordOpen counts a delivery's mail as opened, once.
func (s *Blasts) recordOpen(ctx context.Context, blastID, delivery int64) error {
	_, err := s.w.ExecContext(ctx, `UPDATE blast_deliveries SET opened_at = ?
		WHERE id = ? AND blast_id = ? AND opened_at IS NULL`, s.now(), delivery, blastID)
	if err != nil {
		return fmt.Errorf("record open: %w", err)
	}
	return nil
}

// deliveryKeyHash returns the hash of a delivery's address (see keyHash),
// or ErrNotFound.
func (s *Blasts) deliveryKeyHash(ctx context.Context, blastID, delivery int64) (string, error) {
	var hash string
	err := s.r.QueryRowContext(ctx, `SELECT key_hash FROM blast_deliveries WHERE id = ? AND blast_id = ?`, delivery, blastID).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("unsubscribe: %w", err)
	}
	return hash, nil
}
