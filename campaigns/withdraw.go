package campaigns

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// withdrawTokens makes and checks the links in signing mails that withdraw
// one signature: the signature's id and an HMAC of it, keyed by a key
// derived from RALLY_SECRET, so a link names one signature and cannot be
// made for another. Nothing is stored for them.
type withdrawTokens struct{ key []byte }

// withdrawMAC is how many bytes of the HMAC-SHA256 a link carries.
const withdrawMAC = 16

func newWithdrawTokens(secret []byte) *withdrawTokens {
	if len(secret) == 0 {
		// Without a secret (some tests), links last as long as the process.
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			panic(err)
		}
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("rally withdraw link v1"))
	return &withdrawTokens{key: m.Sum(nil)}
}

func (t *withdrawTokens) make(id int64) string {
	var buf [binary.MaxVarintLen64 + withdrawMAC]byte
	b := binary.AppendUvarint(buf[:0], uint64(id))
	m := hmac.New(sha256.New, t.key)
	m.Write(b)
	b = m.Sum(b)[:len(b)+withdrawMAC]
	return base64.RawURLEncoding.EncodeToString(b)
}

func (t *withdrawTokens) parse(s string) (int64, bool) {
	if len(s) > 64 {
		return 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) <= withdrawMAC {
		return 0, false
	}
	body, mac := b[:len(b)-withdrawMAC], b[len(b)-withdrawMAC:]
	id, n := binary.Uvarint(body)
	if n != len(body) || id == 0 || id > 1<<63-1 {
		return 0, false
	}
	m := hmac.New(sha256.New, t.key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil)[:withdrawMAC], mac) {
		return 0, false
	}
	return int64(id), true
}

// FindSignatureCause returns the cause a signature is of.
func (s *Store) FindSignatureCause(ctx context.Context, signatureID int64) (Cause, error) {
	var causeID int64
	err := s.r.QueryRowContext(ctx, `SELECT cause_id FROM signatures WHERE id = ?`, signatureID).Scan(&causeID)
	if errors.Is(err, sql.ErrNoRows) {
		return Cause{}, fmt.Errorf("find signature: %w", ErrNotFound)
	}
	if err != nil {
		return Cause{}, fmt.Errorf("find signature: %w", err)
	}
	return s.FindCauseByID(ctx, causeID)
}

// Withdraw deletes one signature at its signer's request: it no longer
// counts, and nothing of it is kept. The supporter goes too when it was
// their only signature. It returns the cause it was of.
func (s *Store) Withdraw(ctx context.Context, signatureID int64) (Cause, error) {
	var causeID int64
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return Cause{}, fmt.Errorf("withdraw signature: %w", err)
	}
	defer tx.Rollback()
	var supporter sql.NullInt64
	err = tx.QueryRowContext(ctx, `DELETE FROM signatures WHERE id = ? RETURNING cause_id, supporter_id`, signatureID).Scan(&causeID, &supporter)
	if errors.Is(err, sql.ErrNoRows) {
		return Cause{}, fmt.Errorf("withdraw signature: %w", ErrNotFound)
	}
	if err != nil {
		return Cause{}, fmt.Errorf("withdraw signature: %w", err)
	}
	if supporter.Valid {
		if err := forgetSupporters(ctx, tx, []int64{supporter.Int64}); err != nil {
			return Cause{}, fmt.Errorf("withdraw signature: %w", err)
		}
	}
	if err := recount(ctx, tx, causeID); err != nil {
		return Cause{}, fmt.Errorf("withdraw signature: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Cause{}, fmt.Errorf("withdraw signature: %w", err)
	}
	s.changed(Change{CauseID: causeID})
	return s.FindCauseByID(ctx, causeID)
}

// forgetSupporters deletes the supporters among ids that no signature
// refers to any more (a donation's link to one is cleared by its foreign
// key).
func forgetSupporters(ctx context.Context, tx *sql.Tx, ids []int64) error {
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `DELETE FROM supporters WHERE id = ?
			AND NOT EXISTS (SELECT 1 FROM signatures WHERE supporter_id = ?)`, id, id); err != nil {
			return fmt.Errorf("forget supporter: %w", err)
		}
	}
	return nil
}

// withdrawData is the withdraw page.
type withdrawData struct {
	Cause Cause
	Token string
	Done  bool
}

// withdrawTarget reads the link's signature, answering 404 when the link
// is not one or its signature is gone.
func (h *Handler) withdrawTarget(c *gin.Context) (int64, bool) {
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	id, ok := h.withdraw.parse(c.Param("token"))
	if !ok {
		h.withdrawGone(c)
		return 0, false
	}
	return id, true
}

func (h *Handler) withdrawGone(c *gin.Context) {
	lang := templates.LangOf(c)
	h.rdr.HTML(c, http.StatusNotFound, "campaigns/withdraw_gone.html",
		&templates.Page{Title: h.rdr.Catalogue.T(lang, "WithdrawGoneTitle"), NoIndex: true})
	c.Abort()
}

// withdrawPage says which signature the link withdraws, with a button that
// does it: mail scanners open links, and a GET changes nothing.
func (h *Handler) withdrawPage(c *gin.Context) {
	id, ok := h.withdrawTarget(c)
	if !ok {
		return
	}
	cz, err := h.store.FindSignatureCause(c.Request.Context(), id)
	if errors.Is(err, ErrNotFound) {
		h.withdrawGone(c)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	lang := templates.LangOf(c)
	h.rdr.HTML(c, http.StatusOK, "campaigns/withdraw.html", &templates.Page{Title: h.rdr.Catalogue.T(lang, "WithdrawTitle"),
		NoIndex: true, Data: withdrawData{Cause: cz, Token: c.Param("token")}})
}

func (h *Handler) withdrawSignature(c *gin.Context) {
	id, ok := h.withdrawTarget(c)
	if !ok {
		return
	}
	cz, err := h.store.Withdraw(c.Request.Context(), id)
	if errors.Is(err, ErrNotFound) {
		h.withdrawGone(c)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	lang := templates.LangOf(c)
	h.rdr.HTML(c, http.StatusOK, "campaigns/withdraw.html", &templates.Page{Title: h.rdr.Catalogue.T(lang, "WithdrawDoneTitle"),
		NoIndex: true, Data: withdrawData{Cause: cz, Done: true}})
}
