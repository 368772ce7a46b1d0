package campaigns

import (
	"context"
	"fmt"
	"html"
	"strings"
	"sync"
	"time"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// Placeholders stand in for the per-signer parts of a rendered mail or page.
// They are plain letters, so neither html/template's escaping nor URL
// normalisation changes them.
const (
	phName  = "x7rallyNAMEx7"
	phToken = "x7rallyTOKENx7"
	phEmail = "x7rallyEMAILx7"
)

// stamps keeps signing mails and the "check your email" page rendered once
// per cause, language and version, with placeholders for the signer. At
// thousands of signings a second, running html/template for every one would
// cost more than the database write; a few string replacements cost little.
type stamps struct {
	mu sync.RWMutex
	m  map[string]any
}

func newStamps() *stamps { return &stamps{m: map[string]any{}} }

func (s *stamps) get(key string, render func() (any, error)) (any, error) {
	s.mu.RLock()
	v, ok := s.m[key]
	s.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := render()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.m) > 4096 {
		clear(s.m)
	}
	s.m[key] = v
	s.mu.Unlock()
	return v, nil
}

// signingMail returns the named signing mail for one signer, from the
// cached rendering for its cause and language.
func (h *Handler) signingMail(cz Cause, lang, name, kind string, in SignInput, token string) (notify.Message, error) {
	key := fmt.Sprint("mail/", name, "/", cz.ID, "/", cz.UpdatedAt.UnixNano(), "/", lang)
	v, err := h.stamps.get(key, func() (any, error) {
		m, err := h.rdr.Mail(lang, name, signMail{Name: phName, CauseTitle: cz.Title, Target: cz.Target,
			CauseURL: h.causeURL(cz), ConfirmURL: h.cfg.BaseURL + "/confirm/" + phToken})
		return m, err
	})
	if err != nil {
		return notify.Message{}, err
	}
	m := v.(templates.Mail)
	first := FirstName(in.Name)
	textR := strings.NewReplacer(phName, first, phToken, token)
	htmlR := strings.NewReplacer(phName, html.EscapeString(first), phToken, token)
	return notify.Message{To: in.Email, ToName: in.Name, Lang: lang, Subject: textR.Replace(m.Subject),
		Text: textR.Replace(m.Text), HTML: htmlR.Replace(m.HTML), Priority: notify.Transactional, Kind: kind}, nil
}

// signedPage returns the "check your email" page for email, from the cached
// rendering for the cause, language and path.
func (h *Handler) signedPage(page *templates.Page, cz Cause, email string) ([]byte, error) {
	key := fmt.Sprint("signed/", cz.ID, "/", cz.UpdatedAt.UnixNano(), "/", page.Lang, "/", page.Path)
	v, err := h.stamps.get(key, func() (any, error) {
		page.Data = signedData{Cause: cz, Email: phEmail}
		var b strings.Builder
		if err := h.rdr.Render(&b, "campaigns/signed.html", page); err != nil {
			return nil, err
		}
		return b.String(), nil
	})
	if err != nil {
		return nil, err
	}
	return []byte(strings.ReplaceAll(v.(string), phEmail, html.EscapeString(email))), nil
}

// causeCache keeps causes by slug for the signing path for a second. Edits
// and status changes forget the entry at once.
type causeCache struct {
	mu sync.RWMutex
	m  map[string]cachedCause
}

type cachedCause struct {
	cause   Cause
	expires time.Time
}

func newCauseCache() *causeCache { return &causeCache{m: map[string]cachedCause{}} }

func (cc *causeCache) get(ctx context.Context, s *Store, slug string) (Cause, error) {
	cc.mu.RLock()
	e, ok := cc.m[slug]
	cc.mu.RUnlock()
	if ok && time.Now().Before(e.expires) {
		return e.cause, nil
	}
	cz, err := s.FindCauseBySlug(ctx, slug)
	if err != nil {
		return cz, err
	}
	cc.mu.Lock()
	if len(cc.m) > 10000 {
		clear(cc.m)
	}
	cc.m[slug] = cachedCause{cause: cz, expires: time.Now().Add(time.Second)}
	cc.mu.Unlock()
	return cz, nil
}

func (cc *causeCache) forget(slug string) {
	cc.mu.Lock()
	delete(cc.m, slug)
	cc.mu.Unlock()
}
