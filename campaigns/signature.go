package campaigns

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rallyhq/rally/notify"
)

// Field limits for signatures.
const (
	MaxName     = 100
	MaxPostcode = 20
	MaxComment  = 500
	MaxRef      = 64
	// TokenTTL is how long a confirmation link works.
	TokenTTL = 14 * 24 * time.Hour
	// UnconfirmedKept is how long a signature never confirmed is kept once
	// its link has expired: a late click still gets the "link expired" page
	// rather than "not found"; then ForgetUnconfirmed deletes it.
	UnconfirmedKept = 30 * 24 * time.Hour
)

// SignInput is what a supporter sends to sign a cause.
type SignInput struct {
	Name     string
	Email    string
	Country  string
	Postcode string
	Comment  string
	Public   bool
	Updates  bool
	Ref      string
	// Source is the channel the signing came through (see sourceName).
	Source string
	Lang   string
}

// Validate checks the input and normalises the email in place (see
// notify.NormalizeEmail). The name loses any bidirectional controls (see
// notify.StripBidiControls) and is otherwise kept as typed.
func (in *SignInput) Validate() FormErrors {
	errs := FormErrors{}
	in.Name = notify.StripBidiControls(in.Name)
	checkText(errs, "name", in.Name, 1, MaxName)
	if e, err := notify.NormalizeEmail(in.Email); err != nil {
		errs["email"] = Problem{ID: "SignErrEmail"}
	} else {
		in.Email = e
	}
	in.Country = strings.ToUpper(strings.TrimSpace(in.Country))
	if !IsCountry(in.Country) {
		errs["country"] = Problem{ID: "SignErrCountry"}
	}
	checkText(errs, "postcode", in.Postcode, 0, MaxPostcode)
	checkMultiline(errs, "comment", in.Comment, MaxComment)
	if len(in.Ref) > MaxRef || strings.IndexFunc(in.Ref, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0 {
		// A broken referral code is not the signer's fault: drop it.
		in.Ref = ""
	}
	in.Source = sourceName(in.Source)
	if in.Source == "" && in.Ref != "" {
		in.Source = SourceLink
	}
	in.Name = strings.TrimSpace(in.Name)
	in.Postcode = strings.TrimSpace(in.Postcode)
	in.Comment = strings.TrimSpace(in.Comment)
	return errs
}

// SignOutcome tells what a signing did.
type SignOutcome int

// The outcomes of a signing. The supporter sees the same page for each; the
// email tells them which it was. Signing again before confirming is a new
// signing, with its own link (see migration 004).
const (
	SignedNew SignOutcome = iota + 1
	SignedAgainConfirmed
)

// Signing is one signing's work for signTx: the validated input, a fresh
// confirmation token, and its mails. NewMail is made before the write
// because a new signature is the common case; AgainMail makes the rarer
// "already signed" mail for a signer already counted, given the id of
// their counted signature.
type Signing struct {
	CauseID   int64
	In        SignInput
	Token     string // sent in the link
	TokenID   int64  // its selector, the new signature's id
	TokenHash string // stored
	// Code is the signer's own share code (see NewShareCode); prepare
	// makes one if it is empty.
	Code      string
	NewMail   notify.Message
	AgainMail func(counted int64) notify.Message
	// Network is the client's network (see holdNetwork), kept with the
	// signature for 30 days.
	Network string

	// Built by prepare.
	key  string // comparison key of In.Email
	row  []any
	mail notify.Row
	// quiet is set when the address has had its MailsPerDay mails: the
	// signing is recorded but queues no mail (see Store.Sign).
	quiet bool
	// held is set when the signing is over a hold limit (see HoldLimits):
	// recorded and mailed, not counted until released.
	held bool
}

// NewToken returns a random URL-safe token and its stored hash.
func NewToken() (token, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, notify.HashToken(token)
}

// lastTokenID is the newest signature token selector handed out.
var lastTokenID atomic.Int64

// NewSignatureToken returns a confirmation token: a selector that grows with
// time (16 hex digits), which is also the new signature's id, and a random
// secret (32 URL-safe characters), with the selector and the hash to store.
func NewSignatureToken() (token string, id int64, hash string) {
	for {
		last := lastTokenID.Load()
		id = max(time.Now().UnixNano(), last+1)
		if lastTokenID.CompareAndSwap(last, id) {
			break
		}
	}
	var secret [24]byte
	if _, err := rand.Read(secret[:]); err != nil {
		panic(err)
	}
	var b [48]byte
	sel := strconv.AppendUint(b[:0], uint64(id), 16)
	n := copy(b[16-len(sel):], sel) // right-aligned: zero-padded to 16
	for i := range 16 - n {
		b[i] = '0'
	}
	base64.RawURLEncoding.Encode(b[16:], secret[:])
	token = string(b[:])
	return token, id, notify.HashToken(token)
}

// parseSignatureToken returns a confirmation token's selector, or false if
// the text cannot be one.
func parseSignatureToken(token string) (int64, bool) {
	if len(token) != 48 {
		return 0, false
	}
	for _, r := range token[16:] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return 0, false
		}
	}
	id, err := strconv.ParseUint(token[:16], 16, 63)
	if err != nil || strings.ToLower(token[:16]) != token[:16] {
		return 0, false
	}
	return int64(id), true
}

// signTx records one signing and queues its mail inside tx. It is the whole
// of a signing's database work, so many signings can share one transaction.
func (s *Store) signTx(ctx context.Context, tx *sql.Tx, sg *Signing, now time.Time) (SignOutcome, error) {
	if err := sg.prepare(now); err != nil {
		return 0, err
	}
	counted, err := s.alreadyCounted(ctx, tx, []*Signing{sg})
	if err != nil {
		return 0, err
	}
	if counted[0] != 0 {
		return s.signAgain(ctx, tx, sg, counted[0])
	}
	if err := runInsert(ctx, tx.StmtContext(ctx, s.many.signatures[1]), sg.row...); err != nil {
		return 0, fmt.Errorf("sign: signature: %w", err)
	}
	if sg.quiet {
		return SignedNew, nil
	}
	if err := s.queue.EnqueueRows(ctx, tx, []notify.Row{sg.mail}); err != nil {
		return 0, fmt.Errorf("sign: %w", err)
	}
	return SignedNew, nil
}

// signAgain handles a signing by someone whose signature of the cause,
// counted, is already confirmed: nothing changes, and they get a mail
// saying so (unless the address has had its mails for the day).
func (s *Store) signAgain(ctx context.Context, tx *sql.Tx, sg *Signing, counted int64) (SignOutcome, error) {
	if sg.quiet {
		return SignedAgainConfirmed, nil
	}
	if err := s.queue.Enqueue(ctx, tx, sg.AgainMail(counted)); err != nil {
		return 0, fmt.Errorf("sign: %w", err)
	}
	return SignedAgainConfirmed, nil
}

// prepareSigning prepares the signing path's statements once on the writer:
// SQLite's statement compilation would otherwise cost more than the inserts
// themselves. It must run outside any write transaction, since the writer
// has one connection.
func (s *Store) prepareSigning(ctx context.Context) error {
	s.prepMu.Lock()
	defer s.prepMu.Unlock()
	if s.many != nil {
		return nil
	}
	// A clock set back must not hand out a selector already in use.
	var maxID sql.NullInt64
	if err := s.w.QueryRowContext(ctx, `SELECT max(id) FROM signatures`).Scan(&maxID); err != nil {
		return err
	}
	for last := lastTokenID.Load(); maxID.Int64 > last && !lastTokenID.CompareAndSwap(last, maxID.Int64); last = lastTokenID.Load() {
	}
	var err error
	if s.queue == nil {
		if s.queue, err = notify.PrepareQueue(ctx, s.w); err != nil {
			return err
		}
	}
	// What admins trust is read before s.many is set (set means done), so
	// a failure to read it is tried again at the next signing instead of
	// holding trusted networks until a restart.
	if err := s.loadExemptions(ctx); err != nil {
		return err
	}
	s.many, err = prepareMany(ctx, s.w)
	return err
}

// Sign records a signing through the group-committing writer: it returns once
// the signature and its mail are on disk.
//
// An address gets at most MailsPerDay signing mails for a cause in any 24
// hours, new links and "already signed" mails together, and at most
// MailsPerAddress for every cause together, counted in memory (see
// mailLimit): signing causes again and again with someone else's address
// must not fill their inbox. Past that, the signing is still recorded, as
// a signing that got a success page always is, but queues no mail: the
// links already mailed still confirm (any link of the address confirms
// it), and the person's page is the same as ever, so nobody learns that a
// limit was reached, or anything else about the address.
//
// A signing over a hold limit (see HoldLimits) is written and mailed the
// same way, and its page is the same, but it counts only once an admin
// releases it.
func (s *Store) Sign(ctx context.Context, sg *Signing) (SignOutcome, error) {
	if err := s.prepareSigning(ctx); err != nil {
		return 0, fmt.Errorf("sign: prepare: %w", err)
	}
	now := s.now()
	sg.held = sg.row == nil && s.holds.take(sg.CauseID, sg.Network, emailDomain(sg.In.Email), now)
	if err := sg.prepare(now); err != nil {
		return 0, err
	}
	sg.quiet = !s.mails.allow(sg.CauseID, sg.key, now)
	j := &signJob{sg: sg}
	err := s.batch.do(ctx, &unit{group: s.signings, value: j, run: func(ctx context.Context, tx *sql.Tx, now time.Time) error {
		var err error
		j.outcome, err = s.signTx(ctx, tx, sg, now)
		return err
	}})
	return j.outcome, err
}

// ErrExpired is returned for a confirmation link past its expiry.
var ErrExpired = errors.New("link expired")

// Confirmation is the result of confirming a signature.
type Confirmation struct {
	CauseID          int64
	SignatureID      int64
	SupporterID      int64
	Email            string
	Name             string
	AlreadyConfirmed bool
	// Lang is the language the person signed in.
	Lang string
	// ShareCode is the code of the signer's personal link (see ShareLink):
	// the counted signature's.
	ShareCode string
	// RecruitsToken opens the private page that counts the people who
	// signed through the signer's link. Only the confirmation that counts
	// the signature has it: the table keeps its hash.
	RecruitsToken string
}

// thanksMail makes the mail sent once a signature is counted, for its
// confirmation and its cause.
type thanksMail func(c *Confirmation, slug, title string) notify.Message

// Confirm confirms the signature whose link carries token. Confirming twice
// is not an error: the second time says so. The cause's count moves in the
// same transaction.
func (s *Store) Confirm(ctx context.Context, token string) (Confirmation, error) {
	return s.confirm(ctx, token, nil)
}

// confirm is Confirm, which also queues the mail that mail makes, if not
// nil, in the transaction that counts the signature.
func (s *Store) confirm(ctx context.Context, token string, mail thanksMail) (Confirmation, error) {
	tokenID, ok := parseSignatureToken(token)
	if !ok {
		return Confirmation{}, fmt.Errorf("confirm signature: %w", ErrNotFound)
	}
	if mail != nil {
		if err := s.prepareSigning(ctx); err != nil {
			return Confirmation{}, fmt.Errorf("confirm signature: prepare: %w", err)
		}
	}
	hash := notify.HashToken(token)
	var c Confirmation
	move := &countMove{}
	confirm := func(ctx context.Context, tx *sql.Tx, now time.Time) error {
		*move, c = countMove{}, Confirmation{}
		var confirmedAt sql.NullTime
		var expires time.Time
		var stored, key, country, postcode, slug, title string
		var supporter, invalidation sql.NullInt64
		var held bool
		err := tx.QueryRowContext(ctx, `SELECT s.id, s.cause_id, s.supporter_id, s.confirmed_at, s.token_expires_at,
			s.token_hash, s.email, s.email_key, s.name, s.country, s.postcode, s.lang, s.share_code, s.held,
			s.invalidation_id, c.slug, c.title
			FROM signatures s JOIN causes c ON c.id = s.cause_id WHERE s.id = ?`, tokenID).
			Scan(&c.SignatureID, &c.CauseID, &supporter, &confirmedAt, &expires, &stored, &c.Email, &key, &c.Name,
				&country, &postcode, &c.Lang, &c.ShareCode, &held, &invalidation, &slug, &title)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) != 1) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		c.SupporterID = supporter.Int64
		if confirmedAt.Valid {
			c.AlreadyConfirmed = true
			return nil
		}
		// They may have signed twice before confirming, and used the other
		// link first: that signature is the one counted.
		var counted int64
		err = tx.QueryRowContext(ctx, confirmedByKey, c.CauseID, key).Scan(&counted)
		if err == nil {
			c.SignatureID, c.AlreadyConfirmed = counted, true
			if err := tx.QueryRowContext(ctx, `SELECT share_code FROM signatures WHERE id = ?`, counted).Scan(&c.ShareCode); err != nil {
				return err
			}
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if !now.Before(expires) {
			return ErrExpired
		}
		// The code given at signing is the signer's unless another
		// counted signer of the cause has it already (or the signature,
		// older than codes, has none).
		if c.ShareCode, err = freeShareCode(ctx, tx, c.CauseID, c.ShareCode); err != nil {
			return err
		}
		var recruitsHash string
		c.RecruitsToken, recruitsHash = newRecruitsToken(c.SignatureID)
		// A confirmed address is a supporter: made now, or brought up to
		// date if they confirmed another cause before.
		if err := tx.QueryRowContext(ctx, `INSERT INTO supporters
			(email, email_key, name, country, postcode, lang, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (email_key) DO UPDATE SET email = excluded.email, name = excluded.name, country = excluded.country,
				postcode = excluded.postcode, lang = excluded.lang, updated_at = excluded.updated_at
			RETURNING id`, c.Email, key, c.Name, country, postcode, c.Lang, now, now).Scan(&c.SupporterID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE signatures SET confirmed_at = ?, supporter_id = ?, share_code = ?,
			recruits_hash = ? WHERE id = ?`, now, c.SupporterID, c.ShareCode, recruitsHash, c.SignatureID); err != nil {
			return err
		}
		if mail != nil {
			if err := s.queue.Enqueue(ctx, tx, mail(&c, slug, title)); err != nil {
				return err
			}
		}
		// The cause's count moves once per batch, for all its confirmations
		// together (see moveCounts): one hot row written per commit. A
		// signature held for review, or invalidated, counts only once an
		// admin releases it or undoes the invalidation (which recount).
		if !held && !invalidation.Valid {
			move.causeID, move.country, move.day = c.CauseID, strings.ToUpper(country), now.UTC().Format(time.DateOnly)
		}
		return nil
	}
	err := s.batch.do(ctx, &unit{run: confirm, value: move})
	if err != nil {
		return Confirmation{}, fmt.Errorf("confirm signature: %w", err)
	}
	return c, nil
}

// countMove is the value of a writer's unit that may move a cause's
// signature count by one: the unit sets causeID when it does.
// country and day are the signer's country and the day (UTC) of the
// confirmation, for the cause's breakdowns (see moveBreakdowns).
type countMove struct {
	causeID int64
	country string
	day     string
}

// moveCounts is the writer's after-batch hook: it moves each cause's count
// by the confirmations of the batch, one UPDATE per cause, so a viral
// cause's row is written once a commit, not once a confirmation.
func (s *Store) moveCounts(ctx context.Context, tx *sql.Tx, done []*unit) error {
	for causeID, n := range confirmedBy(done) {
		if _, err := tx.ExecContext(ctx, `UPDATE causes SET signature_count = signature_count + ? WHERE id = ?`, n, causeID); err != nil {
			return fmt.Errorf("move counts: %w", err)
		}
	}
	return moveBreakdowns(ctx, tx, done)
}

// countsMoved is the writer's after-commit hook: it tells OnChange's
// listeners of the counts the batch moved.
func (s *Store) countsMoved(done []*unit) {
	for causeID, n := range confirmedBy(done) {
		s.changed(Change{CauseID: causeID, Confirmed: n})
	}
}

// confirmedBy returns how many confirmations units made, by cause.
func confirmedBy(units []*unit) map[int64]int64 {
	var moves map[int64]int64
	for _, u := range units {
		if m, ok := u.value.(*countMove); ok && m.causeID != 0 {
			if moves == nil {
				moves = map[int64]int64{}
			}
			moves[m.causeID]++
		}
	}
	return moves
}

// LinkState is what a confirmation link can still do.
type LinkState int

// The states of a confirmation link.
const (
	// LinkOpen confirms its signature when its button is pressed.
	LinkOpen LinkState = iota
	// LinkUsed is a link whose signer is counted already: this link
	// confirmed them, or another one did.
	LinkUsed
	// LinkExpired is past its expiry, its signer not counted.
	LinkExpired
)

// FindLink returns the cause a confirmation link is for and what the link
// can still do, without confirming anything.
func (s *Store) FindLink(ctx context.Context, token string) (Cause, LinkState, error) {
	tokenID, ok := parseSignatureToken(token)
	if !ok {
		return Cause{}, LinkOpen, fmt.Errorf("find confirmation link: %w", ErrNotFound)
	}
	var causeID int64
	var stored, key string
	var confirmed bool
	var expires time.Time
	err := s.r.QueryRowContext(ctx, `SELECT cause_id, token_hash, confirmed_at IS NOT NULL, token_expires_at, email_key
		FROM signatures WHERE id = ?`, tokenID).Scan(&causeID, &stored, &confirmed, &expires, &key)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare([]byte(stored), []byte(notify.HashToken(token))) != 1) {
		return Cause{}, LinkOpen, fmt.Errorf("find confirmation link: %w", ErrNotFound)
	}
	if err != nil {
		return Cause{}, LinkOpen, fmt.Errorf("find confirmation link: %w", err)
	}
	state := LinkOpen
	if !confirmed {
		// As Confirm: another link of theirs may have counted them.
		var counted int64
		err = s.r.QueryRowContext(ctx, confirmedByKey, causeID, key).Scan(&counted)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return Cause{}, LinkOpen, fmt.Errorf("find confirmation link: %w", err)
		}
		confirmed = err == nil
	}
	switch {
	case confirmed:
		state = LinkUsed
	case !s.now().Before(expires):
		state = LinkExpired
	}
	cz, err := s.FindCauseByID(ctx, causeID)
	return cz, state, err
}

// Byline is what a cause's page says of who started it and how it moves.
type Byline struct {
	// Organiser is the name of the organiser who started it.
	Organiser string
	// Recent counts the signatures confirmed since the time asked for.
	Recent int64
	// Handle and OrgName are the organiser's organisation page, if any.
	Handle  string
	OrgName string
}

// FindByline returns the cause's byline, counting the signatures confirmed
// since the given time (in the signatures_cause_confirmed index), less
// those held for review or invalidated.
func (s *Store) FindByline(ctx context.Context, cz Cause, since time.Time) (Byline, error) {
	var b Byline
	since = since.UTC()
	var handle sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT o.name, o.handle, o.org_name,
		(SELECT count(*) FROM signatures WHERE cause_id = ? AND confirmed_at IS NOT NULL AND confirmed_at >= ?)
		- (SELECT count(*) FROM `+heldSignatures+`
			WHERE cause_id = ? AND held = 1 AND invalidation_id IS NULL AND confirmed_at >= ?)
		- (SELECT count(*) FROM `+invalidatedSignatures+`
			WHERE invalidation_id IN (SELECT id FROM invalidations WHERE cause_id = ?) AND confirmed_at >= ?)
		FROM organisers o WHERE o.id = ?`,
		cz.ID, since, cz.ID, since, cz.ID, since, cz.OrganiserID).Scan(&b.Organiser, &handle, &b.OrgName, &b.Recent)
	b.Handle = handle.String
	if err != nil {
		return b, fmt.Errorf("cause byline: %w", err)
	}
	return b, nil
}

// PublicSigner is a confirmed signer who agreed to be shown.
type PublicSigner struct {
	FirstName   string
	Country     string
	Comment     string
	ConfirmedAt time.Time
}

// forgetWindow is how many signatures, by id, one ForgetUnconfirmed
// statement looks through: each holds the single writer for about a
// millisecond, whatever the size of the table.
var forgetWindow = 1000

// ForgetUnconfirmed deletes the signatures never confirmed whose link
// expired more than UnconfirmedKept ago: they count for nothing, and a
// person who did not confirm has not agreed to be kept. Signature ids grow
// with time (see NewSignatureToken), so the old ones are a range of ids,
// read a window at a time from after, the id a previous call returned (0
// the first time). It returns the id to start after next time and how many
// it deleted.
func (s *Store) ForgetUnconfirmed(ctx context.Context, after int64) (next, deleted int64, err error) {
	now := s.now()
	expiredBefore := now.Add(-UnconfirmedKept)
	// A signature's id is at least the time it was made, in nanoseconds:
	// ids below this one were made before their links could have expired.
	below := expiredBefore.Add(-TokenTTL).UnixNano()
	for {
		var upper sql.NullInt64
		if err := s.r.QueryRowContext(ctx, `SELECT max(id) FROM (SELECT id FROM signatures WHERE id > ? AND id < ? ORDER BY id LIMIT ?)`,
			after, below, forgetWindow).Scan(&upper); err != nil {
			return after, deleted, fmt.Errorf("forget unconfirmed signatures: %w", err)
		}
		if !upper.Valid {
			return after, deleted, nil
		}
		res, err := s.w.ExecContext(ctx, `DELETE FROM signatures
			WHERE id > ? AND id <= ? AND confirmed_at IS NULL AND token_expires_at < ?`, after, upper.Int64, expiredBefore)
		if err != nil {
			return after, deleted, fmt.Errorf("forget unconfirmed signatures: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return after, deleted, fmt.Errorf("forget unconfirmed signatures: %w", err)
		}
		deleted += n
		after = upper.Int64
	}
}

// LatestPublicSigners returns the newest counted signers who agreed to be
// shown, with first names only, and their comments unless an admin hid
// them.
func (s *Store) LatestPublicSigners(ctx context.Context, causeID int64, limit int) ([]PublicSigner, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, country, CASE WHEN comment_hidden = 1 THEN '' ELSE comment END, confirmed_at
		FROM signatures WHERE cause_id = ? AND is_public = 1 AND confirmed_at IS NOT NULL AND held = 0 AND invalidation_id IS NULL
		ORDER BY confirmed_at DESC, id DESC LIMIT ?`, causeID, limit)
	if err != nil {
		return nil, fmt.Errorf("latest signers: %w", err)
	}
	defer rows.Close()
	var out []PublicSigner
	for rows.Next() {
		var p PublicSigner
		var name string
		if err := rows.Scan(&name, &p.Country, &p.Comment, &p.ConfirmedAt); err != nil {
			return nil, fmt.Errorf("latest signers: %w", err)
		}
		p.FirstName = notify.FirstName(name)
		out = append(out, p)
	}
	return out, rows.Err()
}
