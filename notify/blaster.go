package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// Cause is what blasts need to know of a cause.
type Cause struct {
	ID          int64
	OrganiserID int64
	Slug        string
	Title       string
	URL         string // its public page
}

// Recipient is one person a blast may go to.
type Recipient struct {
	// ID identifies the person in the cause's audience (campaigns gives
	// the signature's id): one per address, growing in the audience's
	// order.
	ID        int64
	Email     string // as mail goes to it
	FirstName string
	Lang      string // the language they signed in
	Country   string // ISO 3166 alpha-2
}

// Country is a country of a cause's audience, with how many of its signers
// asked for updates.
type Country struct {
	Code  string
	Name  string // in the page's language
	Count int64
}

// Audience is where blasts find causes and the people they go to. The
// campaigns package implements it; notify imports no feature package.
type Audience interface {
	// Cause finds a cause by its slug, or returns ErrNotFound.
	Cause(ctx context.Context, slug string) (Cause, error)
	// Recipients returns up to limit of the cause's confirmed signers who
	// asked for updates (only those of countries, when it is not empty),
	// one per address, with IDs above after (0 to start), in the order of
	// their IDs, and the position to go on from (the last ID).
	Recipients(ctx context.Context, causeID int64, countries []string, after int64, limit int) ([]Recipient, int64, error)
	// Countries lists the countries of those signers, named in lang.
	Countries(ctx context.Context, causeID int64, lang string) ([]Country, error)
}

// Resolver looks up DNS TXT records; *net.Resolver is one.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// BlastConfig configures blasts.
type BlastConfig struct {
	// BaseURL is Rally's public address, for links in mails (RALLY_BASE_URL).
	BaseURL string
	// Secret keys the signed links (RALLY_SECRET).
	Secret []byte
	// MailFrom is Rally's sender (RALLY_MAIL_FROM); a blast's From is the
	// organiser's name with this address.
	MailFrom string
	// DKIMDomain and DKIMSelector are what mail is signed with, if anything.
	DKIMDomain, DKIMSelector string
	// DailyCap is how many recipients an organiser may send blasts to in
	// 24 hours, unless an admin set another figure for them.
	DailyCap int64
	// Resolver looks up the sending domain's SPF, DKIM and DMARC records
	// (default net.DefaultResolver).
	Resolver Resolver
	// Window is how many of the blasts' messages the outbox holds at once
	// (default 2,000): enough to keep the worker busy, few enough that a
	// pause takes effect at once.
	Window int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Blasts is the organisers' email to their supporters: the pages to write,
// send and follow a blast, the fan-out that writes its delivery rows and
// feeds them to the outbox, the rendering the worker asks for, and the
// tracked links and unsubscribe pages.
type Blasts struct {
	w, r   *sql.DB
	rdr    *templates.Renderer
	aud    Audience
	cfg    BlastConfig
	tokens *Tokens
	log    *slog.Logger
	kick   chan struct{}
	dns    *dnsCheck
	// Set by OrganiserRoutes.
	owns    func(*gin.Context, string) bool
	current func(*gin.Context) (Organiser, bool)

	mu       sync.Mutex
	blasts   map[int64]Blast               // sent blasts, whose content no longer changes
	prepared map[preparedKey]*preparedMail // their mails by version
	sizes    map[string]audienceSize       // audience sizes, briefly
	q        *Queue                        // the feed's outbox inserts
}

type preparedKey struct {
	blast   int64
	version string
	test    bool
}

type audienceSize struct {
	n  int64
	at time.Time
}

// NewBlasts returns blasts on the single writer and the reader pool.
func NewBlasts(writer, reader *sql.DB, rdr *templates.Renderer, aud Audience, cfg BlastConfig) *Blasts {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Window <= 0 {
		cfg.Window = 2000
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.DailyCap < 0 {
		cfg.DailyCap = 0
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	l := cfg.Logger
	if l == nil {
		l = slog.Default()
	}
	b := &Blasts{w: writer, r: reader, rdr: rdr, aud: aud, cfg: cfg, tokens: NewTokens(cfg.Secret),
		log: l.With(slog.String("component", "blasts")), kick: make(chan struct{}, 1),
		blasts: map[int64]Blast{}, prepared: map[preparedKey]*preparedMail{}, sizes: map[string]audienceSize{}}
	b.dns = newDNSCheck(cfg.Resolver, cfg.Now)
	return b
}

func (s *Blasts) now() time.Time { return s.cfg.Now().UTC() }

// SetClock replaces the clock, for tests.
func (s *Blasts) SetClock(now func() time.Time) {
	s.cfg.Now = now
	s.dns.now = now
}

// Kick wakes the fan-out, for when a blast was sent, resumed or retried.
func (s *Blasts) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// forget drops what is cached of a blast whose status or content changed.
func (s *Blasts) forget(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blasts, id)
	for k := range s.prepared {
		if k.blast == id {
			delete(s.prepared, k)
		}
	}
}

// blast reads a blast, from the cache once it is sent (its content fixed).
func (s *Blasts) blast(ctx context.Context, id int64) (Blast, error) {
	s.mu.Lock()
	b, ok := s.blasts[id]
	s.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := findBlast(ctx, s.r, id)
	if err != nil {
		return b, err
	}
	if !b.Editable() {
		s.mu.Lock()
		if len(s.blasts) > 256 {
			clear(s.blasts)
		}
		s.blasts[id] = b
		s.mu.Unlock()
	}
	return b, nil
}

// preparedFor returns b's mail in a version, prepared once for a blast that
// is sent.
func (s *Blasts) preparedFor(b Blast, version string, test bool) (*preparedMail, error) {
	k := preparedKey{b.ID, version, test}
	if !b.Editable() {
		s.mu.Lock()
		pm, ok := s.prepared[k]
		s.mu.Unlock()
		if ok {
			return pm, nil
		}
	}
	pm, err := prepare(s.rdr, b, version, test)
	if err != nil {
		return nil, err
	}
	if !b.Editable() {
		s.mu.Lock()
		if len(s.prepared) > 512 {
			clear(s.prepared)
		}
		s.prepared[k] = pm
		s.mu.Unlock()
	}
	return pm, nil
}

// mailFor fills in a blast message for rc in the version for lang: the
// parts, From (the sender's name via Rally), Reply-To and the unsubscribe
// headers (RFC 8058).
func (s *Blasts) mailFor(b Blast, lang string, rc recipient, test bool, m *Message) error {
	version := b.version(lang)
	pm, err := s.preparedFor(b, version, test)
	if err != nil {
		return err
	}
	var unsub string
	m.Subject, m.Text, m.HTML, unsub = s.personalise(pm, b, rc)
	m.Lang = version
	if b.FromName != "" {
		m.FromName = s.rdr.Catalogue.T(version, "BlastFromName", "Name", b.FromName)
	}
	m.ReplyTo = b.ReplyTo
	m.Headers = map[string]string{
		"List-Unsubscribe":      "<" + unsub + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	}
	return nil
}

// renderQueued renders a blast message the worker claimed.
func (s *Blasts) renderQueued(ctx context.Context, m *Message) error {
	id, err := strconv.ParseInt(m.Data["blast"], 10, 64)
	if err != nil {
		return permanent(fmt.Errorf("blast message %d names no blast", m.ID))
	}
	b, err := s.blast(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return permanent(fmt.Errorf("blast %d: %w", id, err))
		}
		return err
	}
	if m.delivery == 0 {
		// A test: it goes out as the draft is now, from the organiser who
		// asked for it.
		b.FromName, b.ReplyTo = m.Data["from_name"], m.Data["reply_to"]
		if b.CauseTitle == "" {
			b.CauseTitle = m.Data["cause_title"]
		}
	}
	return s.mailFor(b, m.Lang, recipient{delivery: m.delivery, firstName: m.Data["first_name"]}, m.delivery == 0, m)
}

// suppressedIn returns the blast messages among msgs whose address is
// suppressed for their blast's cause, by outbox id: checked at the last
// moment, so an unsubscribe holds for a blast already sending.
func (s *Blasts) suppressedIn(ctx context.Context, msgs []Message) (map[int64]bool, error) {
	byCause := map[int64][]int{}
	for i, m := range msgs {
		if m.Template != blastTemplate || m.delivery == 0 {
			continue
		}
		id, err := strconv.ParseInt(m.Data["blast"], 10, 64)
		if err != nil {
			continue
		}
		b, err := s.blast(ctx, id)
		if err != nil {
			continue
		}
		byCause[b.CauseID] = append(byCause[b.CauseID], i)
	}
	out := map[int64]bool{}
	for cause, idx := range byCause {
		hashes := make([]string, len(idx))
		for j, i := range idx {
			hashes[j] = s.keyHash(msgs[i].To)
		}
		supp, err := suppressedAmong(ctx, s.r, cause, hashes)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			if supp[hashes[j]] {
				out[msgs[i].ID] = true
			}
		}
	}
	return out, nil
}

// Run starts scheduled blasts when their time comes, writes the delivery
// rows of sending blasts and feeds them to the outbox, and marks blasts
// sent, until ctx ends. It holds the single writer a short transaction at
// a time (fanOutPage recipients, or feedChunk messages), so signing never
// waits long behind a large blast.
func (s *Blasts) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		busy, err := s.Step(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("blasts", slog.Any("error", err))
		}
		if busy && err == nil {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		// The worker kicks as it records outcomes, which makes room in
		// the window; sending, new blasts and the scheduled ones kick or
		// wait for the tick.
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
	}
}

// How much the fan-out does in one transaction.
const (
	fanOutPage = 500 // delivery rows written
	feedChunk  = 500 // messages moved into the outbox
)

// Step does one round of Run's work and reports whether there is more to
// do at once. Tests call it to drive blasts without Run.
func (s *Blasts) Step(ctx context.Context) (bool, error) {
	now := s.now()
	var due bool
	if err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blasts WHERE status = 'scheduled' AND send_at <= ?)`, now).Scan(&due); err != nil {
		return false, fmt.Errorf("find scheduled blasts: %w", err)
	}
	if due {
		if _, err := s.w.ExecContext(ctx, `UPDATE blasts SET status = 'sending', started_at = ?, updated_at = ?
			WHERE status = 'scheduled' AND send_at <= ?`, now, now, now); err != nil {
			return false, fmt.Errorf("start scheduled blasts: %w", err)
		}
		s.mu.Lock()
		clear(s.blasts)
		s.mu.Unlock()
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+blastColumns+` FROM blasts WHERE status IN ('sending', 'paused') ORDER BY id`)
	if err != nil {
		return false, fmt.Errorf("find sending blasts: %w", err)
	}
	var live []Blast
	for rows.Next() {
		b, err := scanBlast(rows)
		if err != nil {
			rows.Close()
			return false, err
		}
		live = append(live, b)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return false, fmt.Errorf("find sending blasts: %w", err)
	}
	busy := false
	room := -1
	for _, b := range live {
		if !b.AudienceDone {
			more, err := s.fanOut(ctx, b)
			if err != nil {
				return busy, err
			}
			busy = busy || more
		}
		if b.Status != BlastSending {
			continue
		}
		if room < 0 {
			if room, err = s.outboxRoom(ctx); err != nil {
				return busy, err
			}
		}
		fed := -1
		if room > 0 {
			n, err := s.feed(ctx, b, min(room, feedChunk))
			if err != nil {
				return busy, err
			}
			room -= n
			fed = n
			busy = busy || n == feedChunk
		}
		// Only a blast with nothing left to feed can be done.
		if b.AudienceDone && fed == 0 {
			if err := s.finishIfDone(ctx, b.ID); err != nil {
				return busy, err
			}
		}
	}
	return busy && room != 0, nil
}

// outboxRoom is how many more blast messages the outbox may take now: the
// window less the bulk mail queued, counted in the outbox's index alone
// (blasts are the bulk mail).
func (s *Blasts) outboxRoom(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE status = 'queued' AND priority = ?`, int(Bulk)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count blast mail: %w", err)
	}
	return max(s.cfg.Window-n, 0), nil
}

// fanOut writes the delivery rows of the next page of b's audience, less
// the suppressed addresses, and moves b's position on, in one
// transaction. A restarted server goes on from the position; an address
// already written is skipped (UNIQUE (blast_id, recipient)). It reports
// whether more pages follow.
func (s *Blasts) fanOut(ctx context.Context, b Blast) (bool, error) {
	recips, next, err := s.aud.Recipients(ctx, b.CauseID, b.Countries, b.AudiencePos, fanOutPage)
	if err != nil {
		return false, fmt.Errorf("blast %d audience: %w", b.ID, err)
	}
	done := len(recips) < fanOutPage
	hashes := make([]string, len(recips))
	for i, r := range recips {
		hashes[i] = s.keyHash(r.Email)
	}
	supp, err := suppressedAmong(ctx, s.r, b.CauseID, hashes)
	if err != nil {
		return false, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("blast %d fan-out: %w", b.ID, err)
	}
	defer func() { _ = tx.Rollback() }()
	now := s.now()
	var written int64
	args := make([]any, 0, 8*len(recips))
	n := 0
	for i, r := range recips {
		if supp[hashes[i]] {
			continue
		}
		args = append(args, b.ID, r.ID, hashes[i], r.Email, r.FirstName, r.Lang, r.Country, now)
		n++
	}
	if n > 0 {
		// One statement for the page.
		res, err := tx.ExecContext(ctx, `INSERT INTO blast_deliveries (blast_id, recipient, key_hash, email, first_name, lang, country, updated_at)
			VALUES `+strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?),", n), ",")+`
			ON CONFLICT (blast_id, recipient) DO NOTHING`, args...)
		if err != nil {
			return false, fmt.Errorf("blast %d fan-out: %w", b.ID, err)
		}
		written, _ = res.RowsAffected()
	}
	res, err := tx.ExecContext(ctx, `UPDATE blasts SET audience_pos = ?, recipients = recipients + ?, audience_done = ?, updated_at = ?
		WHERE id = ? AND audience_pos = ? AND status IN ('sending', 'paused')`, next, written, done, now, b.ID, b.AudiencePos)
	if err != nil {
		return false, fmt.Errorf("blast %d fan-out: %w", b.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// Cancelled meanwhile, or another fan-out went first.
		return false, nil
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("blast %d fan-out: %w", b.ID, err)
	}
	return !done, nil
}

// queue returns the outbox's multi-row inserts, prepared on the writer the
// first time. It is called before the feed's transaction begins: the
// writer has one connection.
func (s *Blasts) queue(ctx context.Context) (*Queue, error) {
	s.mu.Lock()
	q := s.q
	s.mu.Unlock()
	if q != nil {
		return q, nil
	}
	q, err := PrepareQueue(ctx, s.w)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.q != nil {
		q.Close()
		return s.q, nil
	}
	s.q = q
	return q, nil
}

// feed moves up to n of b's queued deliveries into the outbox, as bulk
// mail, in one transaction, and returns how many.
func (s *Blasts) feed(ctx context.Context, b Blast, n int) (int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, email, first_name, lang FROM blast_deliveries
		WHERE blast_id = ? AND state = 'queued' ORDER BY id LIMIT ?`, b.ID, n)
	if err != nil {
		return 0, fmt.Errorf("blast %d feed: %w", b.ID, err)
	}
	type queued struct {
		id                     int64
		email, firstName, lang string
	}
	var next []queued
	for rows.Next() {
		var q queued
		if err := rows.Scan(&q.id, &q.email, &q.firstName, &q.lang); err != nil {
			rows.Close()
			return 0, fmt.Errorf("blast %d feed: %w", b.ID, err)
		}
		next = append(next, q)
	}
	err = rows.Err()
	rows.Close()
	if err != nil || len(next) == 0 {
		return 0, err
	}
	now := s.now()
	blastID := strconv.FormatInt(b.ID, 10)
	outRows := make([]Row, 0, len(next))
	ids := make([]any, 0, len(next)+2)
	ids = append(ids, now, b.ID)
	var bad []any
	for _, q := range next {
		r, err := NewRow(Message{To: q.email, Lang: q.lang, Priority: Bulk, Kind: "blast", Template: blastTemplate,
			Data: map[string]string{"blast": blastID, "delivery": strconv.FormatInt(q.id, 10), "first_name": q.firstName}}, now)
		if err != nil {
			bad = append(bad, q.id)
			continue
		}
		outRows = append(outRows, r)
		ids = append(ids, q.id)
	}
	q, err := s.queue(ctx)
	if err != nil {
		return 0, fmt.Errorf("blast %d feed: %w", b.ID, err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("blast %d feed: %w", b.ID, err)
	}
	defer func() { _ = tx.Rollback() }()
	// Only while the blast still sends: a pause in between leaves them queued.
	var status string
	if err := tx.QueryRowContext(ctx, `SELECT status FROM blasts WHERE id = ?`, b.ID).Scan(&status); err != nil {
		return 0, fmt.Errorf("blast %d feed: %w", b.ID, err)
	}
	if status != BlastSending {
		return 0, nil
	}
	if err := q.EnqueueRows(ctx, tx, outRows); err != nil {
		return 0, fmt.Errorf("blast %d feed: %w", b.ID, err)
	}
	if len(ids) > 2 {
		if _, err := tx.ExecContext(ctx, `UPDATE blast_deliveries SET state = 'sending', updated_at = ?
			WHERE blast_id = ? AND state = 'queued' AND id IN (`+strings.TrimSuffix(strings.Repeat("?,", len(ids)-2), ",")+`)`, ids...); err != nil {
			return 0, fmt.Errorf("blast %d feed: %w", b.ID, err)
		}
	}
	if len(bad) > 0 {
		args := append([]any{now, b.ID}, bad...)
		if _, err := tx.ExecContext(ctx, `UPDATE blast_deliveries SET state = 'failed', last_reply = 'not a deliverable address', updated_at = ?
			WHERE blast_id = ? AND id IN (`+strings.TrimSuffix(strings.Repeat("?,", len(bad)), ",")+`)`, args...); err != nil {
			return 0, fmt.Errorf("blast %d feed: %w", b.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("blast %d feed: %w", b.ID, err)
	}
	wake()
	return len(next), nil
}

// finishIfDone marks a sending blast whose every delivery has an outcome
// sent.
func (s *Blasts) finishIfDone(ctx context.Context, id int64) error {
	now := s.now()
	res, err := s.w.ExecContext(ctx, `UPDATE blasts SET status = 'sent', finished_at = ?, updated_at = ?
		WHERE id = ? AND status = 'sending' AND audience_done = 1
		AND NOT EXISTS (SELECT 1 FROM blast_deliveries WHERE blast_id = ? AND state IN ('queued', 'sending'))`, now, now, id, id)
	if err != nil {
		return fmt.Errorf("finish blast %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.forget(id)
		s.log.Info("blast sent", slog.Int64("blast", id))
	}
	return nil
}

// AudienceChanged forgets the audience counts of a cause (0: of every
// cause), so the next page counts again: the caller says when a signer
// confirmed, or anything else that may change who a blast goes to.
func (s *Blasts) AudienceChanged(causeID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if causeID == 0 {
		clear(s.sizes)
		return
	}
	prefix := strconv.FormatInt(causeID, 10) + ":"
	for k := range s.sizes {
		if strings.HasPrefix(k, prefix) {
			delete(s.sizes, k)
		}
	}
}

// audienceSize counts the people a blast of the cause would go to now:
// the audience less the suppressed addresses. A count is kept for a few
// seconds, or until AudienceChanged, as a page may be reloaded often.
func (s *Blasts) audienceSize(ctx context.Context, causeID int64, countries []string) (int64, error) {
	key := strconv.FormatInt(causeID, 10) + ":" + strings.Join(countries, ",")
	now := s.now()
	s.mu.Lock()
	if c, ok := s.sizes[key]; ok && now.Sub(c.at) < 10*time.Second {
		s.mu.Unlock()
		return c.n, nil
	}
	s.mu.Unlock()
	var n, pos int64
	for {
		recips, next, err := s.aud.Recipients(ctx, causeID, countries, pos, 5000)
		if err != nil {
			return 0, fmt.Errorf("count audience: %w", err)
		}
		hashes := make([]string, len(recips))
		seen := make(map[string]bool, len(recips))
		for i, r := range recips {
			hashes[i] = s.keyHash(r.Email)
			seen[hashes[i]] = true
		}
		supp, err := suppressedAmong(ctx, s.r, causeID, hashes)
		if err != nil {
			return 0, err
		}
		n += int64(len(seen) - len(supp))
		if len(recips) < 5000 {
			break
		}
		pos = next
	}
	s.mu.Lock()
	if len(s.sizes) > 256 {
		clear(s.sizes)
	}
	s.sizes[key] = audienceSize{n: n, at: now}
	s.mu.Unlock()
	return n, nil
}
