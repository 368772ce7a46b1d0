package campaigns

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// Reasons for signing are the comments of signers who ticked "public",
// counted signatures only, unless hidden. Visitors give them hearts, with
// no account: once per browser (a random id in a cookie, kept only as a
// hash), and a bounded number a day from one network for one reason, so
// that one person with a script cannot put their favourite on top. The
// cause page shows the most liked few and the newest; /c/{slug}/comments
// pages through all of them.
//
// A comment is hidden by the cause's organiser or by an admin
// (signatures.comment_hidden: 2 and 1); what an admin hid, only an admin
// shows again.

// reasonWhere selects a cause's shown reasons; it names the columns of
// signatures_reasons' condition, so that index serves it.
const reasonWhere = `cause_id = ? AND comment <> '' AND is_public = 1 AND comment_hidden = 0
	AND confirmed_at IS NOT NULL AND held = 0 AND invalidation_id IS NULL`

// Who hid a comment, as signatures.comment_hidden says.
const (
	hiddenByAdmin     = 1
	hiddenByOrganiser = 2
)

// Reason is a signer's public comment, as the cause page shows it.
type Reason struct {
	ID        int64 // the signature's
	FirstName string
	Country   string
	Comment   string
	Hearts    int64
	// SignedAt is when the person signed: reasons are in that order.
	SignedAt time.Time
}

// Anchor is the reason's fragment on the pages that show it.
func (r Reason) Anchor() string { return "reason-" + strconv.FormatInt(r.ID, 10) }

// Orders of reasons.
const (
	ReasonsNewest = "new"
	ReasonsTop    = "top"
)

// reasonColumns are what scanReason reads, after the signature's id.
const reasonColumns = `name, country, comment, hearts, created_at, comment_hidden`

// scanReason reads a row of id and reasonColumns.
func scanReason(rows *sql.Rows) (Reason, int, error) {
	var r Reason
	var name string
	var hidden int
	err := rows.Scan(&r.ID, &name, &r.Country, &r.Comment, &r.Hearts, &r.SignedAt, &hidden)
	r.FirstName = notify.FirstName(name)
	return r, hidden, err
}

// Reasons returns a cause's shown reasons in order (ReasonsNewest, or
// ReasonsTop: those with hearts, most first), skipping offset of them.
func (s *Store) Reasons(ctx context.Context, causeID int64, order string, offset, limit int) ([]Reason, error) {
	q := `SELECT id, ` + reasonColumns + ` FROM signatures WHERE ` + reasonWhere
	if order == ReasonsTop {
		q += ` AND hearts > 0 ORDER BY hearts DESC, id DESC`
	} else {
		q += ` ORDER BY id DESC`
	}
	rows, err := s.r.QueryContext(ctx, q+` LIMIT ? OFFSET ?`, causeID, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("reasons: %w", err)
	}
	defer rows.Close()
	var out []Reason
	for rows.Next() {
		r, _, err := scanReason(rows)
		if err != nil {
			return nil, fmt.Errorf("reasons: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Heart gives the reason with id on a cause the heart of browser (a hash of
// its cookie's id). It returns the reason's hearts and whether this one was
// new: a browser's second heart changes nothing. A reason not shown is
// ErrNotFound.
func (s *Store) Heart(ctx context.Context, causeID, id int64, browser string) (hearts int64, added bool, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, fmt.Errorf("heart: %w", err)
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx, `SELECT hearts FROM signatures WHERE id = ? AND `+reasonWhere, id, causeID).Scan(&hearts)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, ErrNotFound
	}
	if err != nil {
		return 0, false, fmt.Errorf("heart: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO comment_hearts (signature_id, browser, created_at) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, id, browser, s.now())
	if err != nil {
		return 0, false, fmt.Errorf("heart: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return hearts, false, err
	}
	if err := tx.QueryRowContext(ctx, `UPDATE signatures SET hearts = hearts + 1 WHERE id = ? RETURNING hearts`, id).Scan(&hearts); err != nil {
		return 0, false, fmt.Errorf("heart: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, false, fmt.Errorf("heart: %w", err)
	}
	return hearts, true, nil
}

// HideReason hides a signer's comment on a cause, or shows it again, as
// by: an admin's hiding holds until an admin shows it; the cause's
// organiser shows only what they hid. Admins' acts go to the moderation
// log. The signature still counts and its signer still shows among the
// recent signers.
func (s *Store) HideReason(ctx context.Context, by Organiser, causeID, id int64, hide bool) error {
	now := s.now()
	state, act := 0, ActShowComment
	if hide {
		state, act = hiddenByOrganiser, ActHideComment
		if by.Admin {
			state = hiddenByAdmin
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("hide comment: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE signatures SET comment_hidden = ? WHERE id = ? AND cause_id = ? AND comment <> ''
		AND (? OR comment_hidden IN (0, ?))`, state, id, causeID, by.Admin, hiddenByOrganiser)
	if err != nil {
		return fmt.Errorf("hide comment: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = ErrNotFound
		}
		return fmt.Errorf("hide comment: %w", err)
	}
	if by.Admin {
		if err := logModeration(ctx, tx, by.ID, act, causeID, fmt.Sprintf("signature %d", id), now); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("hide comment: %w", err)
	}
	s.changed(Change{CauseID: causeID})
	return nil
}

// heartCookie names the cookie holding a browser's random id for hearts.
const heartCookie = "rally_hearts"

// heartsPerNetwork bounds the hearts one reason gets from one network (an
// IPv4 /24, an IPv6 /64) in a day: enough for a household or an office,
// too few for a script that drops its cookie to top the list.
const heartsPerNetwork = 20

// heartLimitKeys bounds the reason-network pairs a heartLimit holds: about
// 5 MB.
const heartLimitKeys = 1 << 17

// heartLimit counts, in memory, the hearts each reason got from each
// network since the current day's count began; a restart forgets them.
type heartLimit struct {
	seed  maphash.Seed
	mu    sync.Mutex
	count map[uint64]int
	since time.Time
}

func newHeartLimit() *heartLimit {
	return &heartLimit{seed: maphash.MakeSeed(), count: map[uint64]int{}}
}

// allow reports whether the reason id may take one more heart from
// network, and if so counts it.
func (l *heartLimit) allow(id int64, network string, now time.Time) bool {
	if network == "" {
		return true
	}
	h := maphash.String(l.seed, strconv.FormatInt(id, 10)+" "+network)
	l.mu.Lock()
	defer l.mu.Unlock()
	// A day on, or past heartLimitKeys pairs (networks are cheap to come
	// by in IPv6), the count starts again.
	if now.Sub(l.since) >= day || now.Before(l.since) || len(l.count) >= heartLimitKeys {
		l.count, l.since = map[uint64]int{}, now
	}
	if l.count[h] >= heartsPerNetwork {
		return false
	}
	l.count[h]++
	return true
}

// browserID returns the browser's id for hearts from its cookie, making
// and setting one if it has none (or a malformed one); what is kept is
// its hash.
func (h *Handler) browserID(c *gin.Context) string {
	id, err := c.Cookie(heartCookie)
	if b, derr := base64.RawURLEncoding.DecodeString(id); err != nil || derr != nil || len(b) != 16 {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		id = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(c.Writer, &http.Cookie{Name: heartCookie, Value: id, Path: "/c/", MaxAge: 365 * 24 * 60 * 60,
			HttpOnly: true, Secure: strings.HasPrefix(h.cfg.BaseURL, "https://"), SameSite: http.SameSiteLaxMode})
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// heart gives a reason a heart: POST /c/{slug}/comments/{id}/heart. A
// script asking for JSON gets {"hearts": n, "added": bool}; a form is sent
// back where it came from (back: a page of this cause's reasons, else the
// cause page), with a notice.
func (h *Handler) heart(c *gin.Context) {
	cz, _, ok := h.findVisible(c, c.Param("slug"))
	if !ok {
		return
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	wantsJSON := strings.Contains(c.GetHeader("Accept"), "application/json")
	if !h.hearts.allow(id, holdNetwork(c.ClientIP()), h.store.now()) {
		c.Header("Retry-After", "3600")
		if wantsJSON {
			c.JSON(http.StatusTooManyRequests, gin.H{"error": h.rdr.Catalogue.T(templates.LangOf(c), "HeartTooMany")})
			return
		}
		h.rdr.HTML(c, http.StatusTooManyRequests, "campaigns/heart_limit.html", &templates.Page{
			Title: h.rdr.Catalogue.T(templates.LangOf(c), "HeartTooManyTitle"), NoIndex: true,
			Data: map[string]any{"Cause": cz, "Back": reasonsBack(cz, c.PostForm("back"), id)}})
		return
	}
	hearts, added, err := h.store.Heart(c.Request.Context(), cz.ID, id, h.browserID(c))
	if errors.Is(err, ErrNotFound) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	if added {
		h.pages.hearted(cz.ID)
	}
	if wantsJSON {
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"hearts": hearts, "added": added})
		return
	}
	if added {
		templates.SetFlash(c, "FlashHeartGiven")
	} else {
		templates.SetFlash(c, "FlashHeartAlready")
	}
	c.Redirect(http.StatusSeeOther, reasonsBack(cz, c.PostForm("back"), id))
}

// reasonsBack is where a heart's form goes back to: back if it is a page
// of the cause's reasons, else the cause page; at the reason's anchor.
func reasonsBack(cz Cause, back string, id int64) string {
	to := "/c/" + cz.Slug
	if u, err := url.Parse(back); err == nil && u.Scheme == "" && u.Host == "" && u.Path == to+"/comments" {
		to = reasonsURL(cz, u.Query().Get("sort"), atoiOr(u.Query().Get("page"), 1))
	}
	return to + "#" + Reason{ID: id}.Anchor()
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// reasonsPageSize is how many reasons a page of /c/{slug}/comments shows,
// and maxReasonsPage the furthest page it reads.
const (
	reasonsPageSize = 20
	maxReasonsPage  = 500
)

// reasonsURL is the address of a page of a cause's reasons.
func reasonsURL(cz Cause, order string, page int) string {
	v := url.Values{}
	if order == ReasonsTop {
		v.Set("sort", ReasonsTop)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/c/" + cz.Slug + "/comments"
	}
	return "/c/" + cz.Slug + "/comments?" + v.Encode()
}

type reasonView struct {
	Reason
	CountryName string
}

func viewReasons(lang string, rs []Reason) []reasonView {
	out := make([]reasonView, len(rs))
	for i, r := range rs {
		out[i] = reasonView{Reason: r, CountryName: CountryName(lang, r.Country)}
	}
	return out
}

type reasonsPageData struct {
	Cause      Cause
	Order      string
	Page       int
	Reasons    []reasonView
	Prev, Next string
	Back       string // this page's address, for the hearts' forms
	Open       bool
}

// reasonsPage pages through a cause's reasons: GET /c/{slug}/comments,
// newest first or (sort=top) most liked first.
func (h *Handler) reasonsPage(c *gin.Context) {
	cz, _, ok := h.findVisible(c, c.Param("slug"))
	if !ok {
		return
	}
	order := ReasonsNewest
	if c.Query("sort") == ReasonsTop {
		order = ReasonsTop
	}
	page := min(max(atoiOr(c.Query("page"), 1), 1), maxReasonsPage)
	rs, err := h.store.Reasons(c.Request.Context(), cz.ID, order, (page-1)*reasonsPageSize, reasonsPageSize+1)
	if err != nil {
		h.fail(c, err)
		return
	}
	lang := templates.LangOf(c)
	d := reasonsPageData{Cause: cz, Order: order, Page: page, Back: reasonsURL(cz, order, page), Open: cz.Open(h.store.now())}
	if len(rs) > reasonsPageSize {
		rs = rs[:reasonsPageSize]
		if page < maxReasonsPage {
			d.Next = reasonsURL(cz, order, page+1)
		}
	}
	if page > 1 {
		d.Prev = reasonsURL(cz, order, page-1)
	}
	d.Reasons = viewReasons(lang, rs)
	publicCache(c)
	title := h.rdr.Catalogue.T(lang, "ReasonsTitle") + " · " + cz.Title
	h.rdr.HTML(c, http.StatusOK, "campaigns/reasons.html", &templates.Page{Title: title, NoIndex: !cz.Public() || page > 1, Data: d})
}

// Comment is a signer's public comment, as the organiser and admins
// review it: hidden ones too, and who hid them ("admin" or "organiser").
type Comment struct {
	Reason
	HiddenBy string
}

// Hidden reports whether the public does not see the comment.
func (c Comment) Hidden() bool { return c.HiddenBy != "" }

// Anchor is the comment's fragment on the review pages.
func (c Comment) Anchor() string { return "comment-" + strconv.FormatInt(c.ID, 10) }

// PublicComments returns the newest comments of a cause's public signers,
// hidden ones included, skipping offset of them.
func (s *Store) PublicComments(ctx context.Context, causeID int64, offset, limit int) ([]Comment, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, `+reasonColumns+` FROM signatures
		WHERE cause_id = ? AND comment <> '' AND is_public = 1 AND confirmed_at IS NOT NULL
		ORDER BY id DESC LIMIT ? OFFSET ?`, causeID, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("public comments: %w", err)
	}
	defer rows.Close()
	var out []Comment
	for rows.Next() {
		r, hidden, err := scanReason(rows)
		if err != nil {
			return nil, fmt.Errorf("public comments: %w", err)
		}
		c := Comment{Reason: r}
		switch hidden {
		case hiddenByAdmin:
			c.HiddenBy = "admin"
		case hiddenByOrganiser:
			c.HiddenBy = "organiser"
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

type commentsPageData struct {
	Cause      Cause
	Admin      bool
	Comments   []Comment
	Page       int
	Prev, Next string
}

// commentsReview lists a cause's public comments for its organiser (and
// admins), with a button to hide or show each: GET /campaigns/{slug}/comments.
func (h *Handler) commentsReview(c *gin.Context) {
	cz, o, ok := h.ownCause(c)
	if !ok {
		return
	}
	page := min(max(atoiOr(c.Query("page"), 1), 1), maxReasonsPage)
	cs, err := h.store.PublicComments(c.Request.Context(), cz.ID, (page-1)*reasonsPageSize, reasonsPageSize+1)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := commentsPageData{Cause: cz, Admin: o.Admin, Page: page}
	base := "/campaigns/" + cz.Slug + "/comments"
	if len(cs) > reasonsPageSize {
		cs = cs[:reasonsPageSize]
		if page < maxReasonsPage {
			d.Next = base + "?page=" + strconv.Itoa(page+1)
		}
	}
	if page > 1 {
		d.Prev = base + "?page=" + strconv.Itoa(page-1)
	}
	d.Comments = cs
	c.Header("Cache-Control", "private, no-store")
	title := h.rdr.Catalogue.T(templates.LangOf(c), "CommentsTitle") + " · " + cz.Title
	h.rdr.HTML(c, http.StatusOK, "campaigns/comments.html", &templates.Page{Title: title, NoIndex: true, Data: d})
}

// hideComment hides (or shows) a comment from the review page:
// POST /campaigns/{slug}/comments/{id}/hide and …/show.
func (h *Handler) hideComment(hide bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		cz, o, ok := h.ownCause(c)
		if !ok {
			return
		}
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id <= 0 {
			c.AbortWithStatus(http.StatusNotFound)
			return
		}
		err = h.store.HideReason(c.Request.Context(), o, cz.ID, id, hide)
		if errors.Is(err, ErrNotFound) {
			c.AbortWithStatus(http.StatusNotFound)
			return
		}
		if err != nil {
			h.fail(c, err)
			return
		}
		flash := "FlashCommentShown"
		if hide {
			flash = "FlashCommentHidden"
		}
		templates.SetFlash(c, flash)
		to := "/campaigns/" + cz.Slug + "/comments"
		if p := atoiOr(c.PostForm("page"), 1); p > 1 && p <= maxReasonsPage {
			to += "?page=" + strconv.Itoa(p)
		}
		c.Redirect(http.StatusSeeOther, to+"#"+Comment{Reason: Reason{ID: id}}.Anchor())
	}
}
