package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rallyhq/rally/notify"
)

// PersonalData is another feature's part of what Rally holds on a person,
// for their requests to see it or to have it deleted (the privacy pages).
// A person is an address's comparison key (EmailKey) and the spellings of
// the address Rally has seen. cmd/rally hands the privacy pages one per
// feature (notify's mails and suppression, donations' ledger).
type PersonalData interface {
	// AddressesOf returns the spellings of the address with comparison key
	// key that the feature holds, so the others find theirs by them.
	AddressesOf(ctx context.Context, key string) ([]string, error)
	// ExportPerson returns the feature's part of the export: top-level
	// names and their values, encoded as JSON.
	ExportPerson(ctx context.Context, key string, emails []string) (map[string]any, error)
	// ForgetPerson deletes or anonymises inside tx what the feature holds
	// on the person.
	ForgetPerson(ctx context.Context, tx *sql.Tx, key string, emails []string, now time.Time) error
}

// Kinds of privacy request.
const (
	RequestExport = "export"
	RequestDelete = "delete"
)

// privacyTTL is how long a privacy request's link works.
const privacyTTL = 24 * time.Hour

// privacyMailsPerDay is how many privacy links one address gets in 24
// hours, whoever asks: a stranger cannot fill someone's inbox with them.
const privacyMailsPerDay = 3

// PrivacyRequest is a pending request of a person's.
type PrivacyRequest struct {
	Email     string
	Key       string
	Kind      string
	Lang      string
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// RequestPrivacy stores a request of the given kind for the address under
// token and queues the mail with its link, unless the address has had
// privacyMailsPerDay links in 24 hours; it reports whether it queued one.
func (s *Store) RequestPrivacy(ctx context.Context, email, kind, lang, token string, mail notify.Message) (bool, error) {
	now := s.now()
	key := notify.EmailKey(email)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("privacy request: %w", err)
	}
	defer tx.Rollback()
	var recent int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM privacy_requests WHERE email_key = ? AND created_at > ?`,
		key, now.Add(-day)).Scan(&recent); err != nil {
		return false, fmt.Errorf("privacy request: %w", err)
	}
	if recent >= privacyMailsPerDay {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO privacy_requests (token_hash, email, email_key, kind, lang, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, notify.HashToken(token), email, key, kind, lang, now, now.Add(privacyTTL)); err != nil {
		return false, fmt.Errorf("privacy request: %w", err)
	}
	if err := notify.Enqueue(ctx, tx, mail); err != nil {
		return false, fmt.Errorf("privacy request: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("privacy request: %w", err)
	}
	return true, nil
}

// FindPrivacyRequest returns the request a link's token is for:
// ErrNotFound for none, ErrExpired (with the request) past its expiry.
func (s *Store) FindPrivacyRequest(ctx context.Context, token string) (PrivacyRequest, error) {
	var r PrivacyRequest
	var used sql.NullTime
	err := s.r.QueryRowContext(ctx, `SELECT email, email_key, kind, lang, expires_at, used_at FROM privacy_requests
		WHERE token_hash = ?`, notify.HashToken(token)).Scan(&r.Email, &r.Key, &r.Kind, &r.Lang, &r.ExpiresAt, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("find privacy request: %w", ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("find privacy request: %w", err)
	}
	r.UsedAt = timePtr(used)
	if !s.now().Before(r.ExpiresAt) {
		return r, ErrExpired
	}
	return r, nil
}

// ErrUsed is returned for a one-use link used already.
var ErrUsed = errors.New("link used")

// useExport marks an export request used: its link works once.
func (s *Store) useExport(ctx context.Context, token string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE privacy_requests SET used_at = ? WHERE token_hash = ? AND used_at IS NULL
		AND kind = 'export' AND expires_at > ?`, s.now(), notify.HashToken(token), s.now())
	if err != nil {
		return fmt.Errorf("use export link: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return ErrUsed
	}
	return nil
}

// ForgetPrivacyRequests deletes the requests whose links expired, and
// those used, a day after they expired: each holds an address.
func (s *Store) ForgetPrivacyRequests(ctx context.Context) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM privacy_requests WHERE expires_at <= ?`, s.now())
	if err != nil {
		return 0, fmt.Errorf("forget privacy requests: %w", err)
	}
	return res.RowsAffected()
}

// addressesOf returns the spellings of the address with comparison key
// key that campaigns holds: signatures, the supporter, an organiser
// account or sign-up, reports, privacy requests.
func (s *Store) addressesOf(ctx context.Context, key string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, q := range []string{
		`SELECT email FROM supporters WHERE email_key = ?`,
		`SELECT DISTINCT email FROM signatures WHERE email_key = ?`,
		`SELECT email FROM organisers WHERE email_key = ?`,
		`SELECT DISTINCT email FROM organiser_signups WHERE email_key = ?`,
		`SELECT DISTINCT email FROM cause_reports WHERE email_key = ?`,
		`SELECT DISTINCT email FROM privacy_requests WHERE email_key = ?`,
	} {
		rows, err := s.r.QueryContext(ctx, q, key)
		if err != nil {
			return nil, fmt.Errorf("addresses of a person: %w", err)
		}
		for rows.Next() {
			var e string
			if err := rows.Scan(&e); err != nil {
				rows.Close()
				return nil, fmt.Errorf("addresses of a person: %w", err)
			}
			if e != "" && !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("addresses of a person: %w", err)
		}
	}
	return out, nil
}

// personEmails returns every spelling of the address with comparison key
// key that campaigns and the other features hold, beginning with the one
// given.
func (s *Store) personEmails(ctx context.Context, email, key string, parts []PersonalData) ([]string, error) {
	emails := []string{email}
	add := func(more []string) {
		for _, e := range more {
			if !slices.Contains(emails, e) {
				emails = append(emails, e)
			}
		}
	}
	own, err := s.addressesOf(ctx, key)
	if err != nil {
		return nil, err
	}
	add(own)
	for _, p := range parts {
		more, err := p.AddressesOf(ctx, key)
		if err != nil {
			return nil, err
		}
		add(more)
	}
	return emails, nil
}

// SignatureRecord is one signature in a person's export.
type SignatureRecord struct {
	Cause       string     `json:"cause"`
	CauseTitle  string     `json:"cause_title"`
	Name        string     `json:"name"`
	Email       string     `json:"email"`
	Country     string     `json:"country"`
	Postcode    string     `json:"postcode"`
	Language    string     `json:"language"`
	Referral    string     `json:"referral_code,omitempty"`
	SignedAt    time.Time  `json:"signed_at"`
	ConfirmedAt *time.Time `json:"confirmed_at"`
	Counted     bool       `json:"counted"`
}

// CommentRecord is one comment in a person's export.
type CommentRecord struct {
	Cause         string `json:"cause"`
	Comment       string `json:"comment"`
	Public        bool   `json:"shown_with_my_name"`
	HiddenByAdmin bool   `json:"hidden_by_an_admin"`
}

// ConsentRecord is what a person agreed to when signing a cause.
type ConsentRecord struct {
	Cause          string    `json:"cause"`
	ShowMyName     bool      `json:"show_my_name_on_the_page"`
	CampaignEmails bool      `json:"campaign_emails"`
	GivenAt        time.Time `json:"given_at"`
}

// exportPerson returns campaigns' part of a person's export.
func (s *Store) exportPerson(ctx context.Context, key string) (map[string]any, error) {
	sigs := []SignatureRecord{}
	comments := []CommentRecord{}
	consents := []ConsentRecord{}
	rows, err := s.r.QueryContext(ctx, `SELECT c.slug, c.title, s.name, s.email, s.country, s.postcode, s.lang, s.ref,
		s.created_at, s.confirmed_at, s.held = 0 AND s.invalidation_id IS NULL, s.comment, s.is_public, s.comment_hidden,
		s.consent_updates
		FROM signatures s JOIN causes c ON c.id = s.cause_id WHERE s.email_key = ? ORDER BY s.id`, key)
	if err != nil {
		return nil, fmt.Errorf("export signatures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r SignatureRecord
		var confirmed sql.NullTime
		var comment string
		var public, hidden, updates bool
		if err := rows.Scan(&r.Cause, &r.CauseTitle, &r.Name, &r.Email, &r.Country, &r.Postcode, &r.Language, &r.Referral,
			&r.SignedAt, &confirmed, &r.Counted, &comment, &public, &hidden, &updates); err != nil {
			return nil, fmt.Errorf("export signatures: %w", err)
		}
		r.SignedAt, r.ConfirmedAt = r.SignedAt.UTC(), timePtr(confirmed)
		r.Counted = r.Counted && confirmed.Valid
		sigs = append(sigs, r)
		if comment != "" {
			comments = append(comments, CommentRecord{Cause: r.Cause, Comment: comment, Public: public, HiddenByAdmin: hidden})
		}
		consents = append(consents, ConsentRecord{Cause: r.Cause, ShowMyName: public, CampaignEmails: updates, GivenAt: r.SignedAt})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("export signatures: %w", err)
	}
	out := map[string]any{"signatures": sigs, "comments": comments, "consents": consents}

	type supporter struct {
		Name      string    `json:"name"`
		Email     string    `json:"email"`
		Country   string    `json:"country"`
		Postcode  string    `json:"postcode"`
		Language  string    `json:"language"`
		CreatedAt time.Time `json:"created_at"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	var sp supporter
	err = s.r.QueryRowContext(ctx, `SELECT name, email, country, postcode, lang, created_at, updated_at FROM supporters
		WHERE email_key = ?`, key).Scan(&sp.Name, &sp.Email, &sp.Country, &sp.Postcode, &sp.Language, &sp.CreatedAt, &sp.UpdatedAt)
	switch {
	case err == nil:
		out["supporter"] = sp
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("export supporter: %w", err)
	}

	type organiser struct {
		Name      string    `json:"name"`
		Email     string    `json:"email"`
		Admin     bool      `json:"admin"`
		CreatedAt time.Time `json:"created_at"`
		Causes    []string  `json:"causes"`
	}
	var o organiser
	var oid int64
	err = s.r.QueryRowContext(ctx, `SELECT id, name, email, is_admin, created_at FROM organisers WHERE email_key = ?`, key).
		Scan(&oid, &o.Name, &o.Email, &o.Admin, &o.CreatedAt)
	switch {
	case err == nil:
		causes, err := s.ListByOrganiser(ctx, oid)
		if err != nil {
			return nil, err
		}
		o.Causes = []string{}
		for _, c := range causes {
			o.Causes = append(o.Causes, c.Slug)
		}
		out["organiser_account"] = o
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("export organiser: %w", err)
	}

	type report struct {
		Cause     string    `json:"cause"`
		Reason    string    `json:"reason"`
		CreatedAt time.Time `json:"created_at"`
	}
	reports := []report{}
	rrows, err := s.r.QueryContext(ctx, `SELECT c.slug, r.reason, r.created_at FROM cause_reports r JOIN causes c ON c.id = r.cause_id
		WHERE r.email_key = ? ORDER BY r.id`, key)
	if err != nil {
		return nil, fmt.Errorf("export reports: %w", err)
	}
	defer rrows.Close()
	for rrows.Next() {
		var r report
		if err := rrows.Scan(&r.Cause, &r.Reason, &r.CreatedAt); err != nil {
			return nil, fmt.Errorf("export reports: %w", err)
		}
		reports = append(reports, r)
	}
	if err := rrows.Err(); err != nil {
		return nil, fmt.Errorf("export reports: %w", err)
	}
	out["reports"] = reports
	return out, nil
}

// anonymise clears everything of a person from confirmed signatures (the
// ids) and deletes the rest: a confirmed signature keeps its cause, its
// country, its language and its place in the count, nothing of who signed;
// one never confirmed counted for nothing and goes. The supporters whose
// last signature this was go too. It returns the causes touched.
func anonymise(ctx context.Context, tx *sql.Tx, ids []int64) ([]int64, error) {
	var causes, supporters []int64
	for _, id := range ids {
		var cause int64
		var confirmed bool
		var supporter sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT cause_id, confirmed_at IS NOT NULL, supporter_id FROM signatures WHERE id = ?`, id).
			Scan(&cause, &confirmed, &supporter)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("anonymise signature: %w", err)
		}
		if confirmed {
			// The comparison key stays unique per cause (the confirmed
			// signatures' unique index) without being anyone's.
			_, err = tx.ExecContext(ctx, `UPDATE signatures SET email = '', email_key = 'forgotten:' || id, name = '',
				postcode = '', comment = '', comment_hidden = 0, is_public = 0, consent_updates = 0, ref = '',
				token_hash = '', network = '', supporter_id = NULL WHERE id = ?`, id)
		} else {
			_, err = tx.ExecContext(ctx, `DELETE FROM signatures WHERE id = ?`, id)
		}
		if err != nil {
			return nil, fmt.Errorf("anonymise signature: %w", err)
		}
		if !slices.Contains(causes, cause) {
			causes = append(causes, cause)
		}
		if supporter.Valid && !slices.Contains(supporters, supporter.Int64) {
			supporters = append(supporters, supporter.Int64)
		}
	}
	return causes, forgetSupporters(ctx, tx, supporters)
}

// personSignatures returns the ids of every signature of the address with
// comparison key key. Confirmed ones are found through the supporter's
// index; those never confirmed have no index by address (signing appends
// only, see migration 004), so the table is read once, off the writer.
func (s *Store) personSignatures(ctx context.Context, key string) ([]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM signatures WHERE email_key = ?`, key)
	if err != nil {
		return nil, fmt.Errorf("find signatures: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("find signatures: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// forgetPerson deletes, inside tx, what campaigns holds on the address
// with comparison key key, but an organiser account: the signatures
// (anonymised when confirmed, see anonymise), the supporter, pending
// organiser sign-ups, the address on reports, and every privacy request.
// It returns the causes whose signatures changed.
func (s *Store) forgetPerson(ctx context.Context, tx *sql.Tx, key string, ids []int64, readAt time.Time) ([]int64, error) {
	// Signed since the ids were read at readAt: ids grow with time (see
	// NewSignatureToken), so the newest are a short range of the primary
	// key, read in the writer's transaction: nothing signed before the
	// deletion stays.
	after := max(maxID(ids), readAt.Add(-time.Minute).UnixNano())
	rows, err := tx.QueryContext(ctx, `SELECT id FROM signatures WHERE id > ? AND email_key = ?`, after, key)
	if err != nil {
		return nil, fmt.Errorf("forget person: %w", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("forget person: %w", err)
		}
		ids = append(ids, id)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("forget person: %w", err)
	}
	causes, err := anonymise(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	for _, q := range []string{
		`DELETE FROM supporters WHERE email_key = ? AND NOT EXISTS (SELECT 1 FROM signatures WHERE supporter_id = supporters.id)`,
		`DELETE FROM organiser_signups WHERE email_key = ?`,
		`UPDATE cause_reports SET email = '', email_key = '' WHERE email_key = ?`,
		`DELETE FROM privacy_requests WHERE email_key = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, key); err != nil {
			return nil, fmt.Errorf("forget person: %w", err)
		}
	}
	return causes, nil
}

func maxID(ids []int64) int64 {
	var m int64
	for _, id := range ids {
		m = max(m, id)
	}
	return m
}

// Export returns everything Rally holds on the person whose request the
// token is, campaigns' part and each of parts', as one JSON-ready map, and
// uses the link up.
func (s *Store) Export(ctx context.Context, token string, parts []PersonalData) (map[string]any, error) {
	req, err := s.FindPrivacyRequest(ctx, token)
	if err != nil {
		return nil, err
	}
	if req.Kind != RequestExport {
		return nil, fmt.Errorf("export: %w", ErrNotFound)
	}
	if req.UsedAt != nil {
		return nil, ErrUsed
	}
	emails, err := s.personEmails(ctx, req.Email, req.Key, parts)
	if err != nil {
		return nil, err
	}
	out, err := s.exportPerson(ctx, req.Key)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		more, err := p.ExportPerson(ctx, req.Key, emails)
		if err != nil {
			return nil, err
		}
		for k, v := range more {
			out[k] = v
		}
	}
	out["address"] = req.Email
	out["generated_at"] = s.now().UTC()
	if err := s.useExport(ctx, token); err != nil {
		return nil, err
	}
	return out, nil
}

// Forget carries out the deletion request the token is for: campaigns
// forgets the person (see forgetPerson), then each of parts, all in one
// transaction, so nothing is half deleted. Counts are kept. The address's
// organiser account, if it has one, stays: reports whether there is one.
func (s *Store) Forget(ctx context.Context, token string, parts []PersonalData) (organiser bool, err error) {
	req, err := s.FindPrivacyRequest(ctx, token)
	if err != nil {
		return false, err
	}
	if req.Kind != RequestDelete {
		return false, fmt.Errorf("forget: %w", ErrNotFound)
	}
	emails, err := s.personEmails(ctx, req.Email, req.Key, parts)
	if err != nil {
		return false, err
	}
	readAt := time.Now()
	ids, err := s.personSignatures(ctx, req.Key)
	if err != nil {
		return false, err
	}
	now := s.now()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("forget: %w", err)
	}
	defer tx.Rollback()
	// The link works once: a second use finds no request.
	res, err := tx.ExecContext(ctx, `DELETE FROM privacy_requests WHERE token_hash = ? AND expires_at > ?`, notify.HashToken(token), now)
	if err != nil {
		return false, fmt.Errorf("forget: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, ErrUsed
	}
	causes, err := s.forgetPerson(ctx, tx, req.Key, ids, readAt)
	if err != nil {
		return false, err
	}
	for _, p := range parts {
		if err := p.ForgetPerson(ctx, tx, req.Key, emails, now); err != nil {
			return false, err
		}
	}
	for _, c := range causes {
		if err := recount(ctx, tx, c); err != nil {
			return false, err
		}
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM organisers WHERE email_key = ?`, req.Key).Scan(&organiser); err != nil {
		return false, fmt.Errorf("forget: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("forget: %w", err)
	}
	for _, c := range causes {
		s.changed(Change{CauseID: c})
	}
	return organiser, nil
}
