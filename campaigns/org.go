package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// Profile is an organiser's public face: the organisation page at
// /org/{handle}. An organiser without a handle has no page.
type Profile struct {
	OrganiserID int64
	Handle      string
	Name        string
	About       string
	Website     string
	Logo        string // file name under the uploads folder, or ""
}

// Field limits for profiles.
const (
	MinHandle     = 3
	MaxHandle     = 30
	MaxOrgName    = 100
	MaxOrgAbout   = 300
	MaxOrgWebsite = 200
)

var handlePattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

// reservedHandles are words an organisation page may not take: they name
// the site's own pages, or would let a page pass for the site's.
var reservedHandles = map[string]bool{
	"admin": true, "administrator": true, "api": true, "about": true, "account": true, "accounts": true,
	"c": true, "campaigns": true, "cause": true, "causes": true, "confirm": true, "dashboard": true, "dev": true,
	"donate": true, "donations": true, "edit": true, "healthz": true, "help": true, "login": true, "logout": true,
	"mail": true, "metrics": true, "moderator": true, "new": true, "null": true, "official": true, "org": true,
	"orgs": true, "password": true, "privacy": true, "rally": true, "root": true, "security": true, "settings": true,
	"signup": true, "static": true, "staff": true, "support": true, "system": true, "team": true, "undefined": true,
	"uploads": true, "webhooks": true, "www": true,
}

// ProfileInput is what an organiser types into the profile form.
type ProfileInput struct {
	Handle  string
	Name    string
	About   string
	Website string
}

// Validate checks the input, returning one error per field. An empty
// handle takes the page down; any other needs a name.
func (in ProfileInput) Validate() FormErrors {
	errs := FormErrors{}
	switch h := in.Handle; {
	case h == "":
	case len(h) < MinHandle || len(h) > MaxHandle || !handlePattern.MatchString(h):
		errs["handle"] = Problem{ID: "OrgErrHandle", Max: MaxHandle}
	case reservedHandles[h]:
		errs["handle"] = Problem{ID: "OrgErrHandleReserved"}
	}
	minName := 0
	if in.Handle != "" {
		minName = 1
	}
	checkText(errs, "org_name", in.Name, minName, MaxOrgName)
	checkMultiline(errs, "about", in.About, MaxOrgAbout)
	if in.Website != "" {
		u, err := url.Parse(in.Website)
		switch {
		case len(in.Website) > MaxOrgWebsite:
			errs["website"] = Problem{ID: "FormErrTooLong", Max: MaxOrgWebsite}
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			strings.ContainsAny(in.Website, " \t\r\n\"<>"):
			errs["website"] = Problem{ID: "OrgErrWebsite"}
		}
	}
	return errs
}

// FindProfile returns an organiser's profile (empty fields when unset).
func (s *Store) FindProfile(ctx context.Context, organiserID int64) (Profile, error) {
	p := Profile{OrganiserID: organiserID}
	var handle sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT handle, org_name, org_about, org_website, org_logo FROM organisers WHERE id = ?`,
		organiserID).Scan(&handle, &p.Name, &p.About, &p.Website, &p.Logo)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("find profile: %w", ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("find profile: %w", err)
	}
	p.Handle = handle.String
	return p, nil
}

// FindProfileByHandle returns the profile with the given handle.
func (s *Store) FindProfileByHandle(ctx context.Context, handle string) (Profile, error) {
	var p Profile
	err := s.r.QueryRowContext(ctx, `SELECT id, handle, org_name, org_about, org_website, org_logo FROM organisers WHERE handle = ?`,
		handle).Scan(&p.OrganiserID, &p.Handle, &p.Name, &p.About, &p.Website, &p.Logo)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("find profile %q: %w", handle, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("find profile %q: %w", handle, err)
	}
	return p, nil
}

// SaveProfile saves an organiser's profile; an empty logo keeps the one
// there. It returns ErrConflict when another organiser has the handle, and
// the name of the logo the save replaced, for the caller to delete ("" if
// none). Every cause of the organiser links to the page: their pages are
// forgotten.
func (s *Store) SaveProfile(ctx context.Context, organiserID int64, in ProfileInput, logo string) (replaced string, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("save profile: %w", err)
	}
	defer tx.Rollback()
	var cur string
	if err := tx.QueryRowContext(ctx, `SELECT org_logo FROM organisers WHERE id = ?`, organiserID).Scan(&cur); err != nil {
		return "", fmt.Errorf("save profile: %w", err)
	}
	if logo == "" {
		logo = cur
	}
	var handle any
	if in.Handle != "" {
		handle = in.Handle
	}
	_, err = tx.ExecContext(ctx, `UPDATE organisers SET handle = ?, org_name = ?, org_about = ?, org_website = ?, org_logo = ?,
		updated_at = ? WHERE id = ?`, handle, in.Name, in.About, in.Website, logo, s.now(), organiserID)
	if isUnique(err) {
		return "", ErrConflict
	}
	if err != nil {
		return "", fmt.Errorf("save profile: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("save profile: %w", err)
	}
	// Every cause page names its organisation: all may have changed.
	s.changed(Change{})
	if cur != "" && cur != logo {
		replaced = cur
	}
	return replaced, nil
}

// findLogoViewers says who may see an uploaded logo: everyone once its
// organiser has a page, else only them.
func (s *Store) findLogoViewers(ctx context.Context, name string) (imageViewers, error) {
	var v imageViewers
	var handle sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT id, handle FROM organisers WHERE org_logo = ? LIMIT 1`, name).Scan(&v.OrganiserID, &handle)
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("find logo %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("find logo %q: %w", name, err)
	}
	v.Public = handle.Valid
	return v, nil
}

// OrgCauses returns an organiser's public causes (published, closed and
// won; never drafts), newest first, and their signatures together.
func (s *Store) OrgCauses(ctx context.Context, organiserID int64, limit int) ([]Cause, int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+causeColumns+` FROM causes WHERE organiser_id = ? AND `+listedCauses+`
		ORDER BY published_at DESC, id DESC LIMIT ?`, organiserID, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("organisation causes: %w", err)
	}
	causes, err := collectCauses(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("organisation causes: %w", err)
	}
	var total int64
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(sum(signature_count), 0) FROM causes WHERE organiser_id = ? AND `+listedCauses,
		organiserID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("organisation causes: %w", err)
	}
	return causes, total, nil
}

// OrgSupporters counts the people who signed an organiser's public
// causes: their counted signatures, one per supporter however many of the
// causes they signed; a signer since anonymised (who has no supporter any
// more) counts as one person. It reads every such signature: the page
// keeps the figure a while (see orgSupporters).
func (s *Store) OrgSupporters(ctx context.Context, organiserID int64) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT count(DISTINCT coalesce(supporter_id, -id)) FROM `+confirmedSignatures+`
		WHERE cause_id IN (SELECT id FROM causes WHERE organiser_id = ? AND `+listedCauses+`)
		AND confirmed_at IS NOT NULL AND held = 0 AND invalidation_id IS NULL`, organiserID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("organisation supporters: %w", err)
	}
	return n, nil
}

// supportersKept is how long an organisation page keeps its count of
// supporters: counting them reads all its signatures.
const supportersKept = time.Minute

// supporterCounts keeps each organisation's count of supporters.
type supporterCounts struct {
	mu sync.Mutex
	m  map[int64]supporterCount
}

type supporterCount struct {
	n  int64
	at time.Time
}

// orgSupporters is OrgSupporters, kept for supportersKept. With at most
// one cause that has signatures, the people are its signatures, uncounted.
func (h *Handler) orgSupporters(ctx context.Context, organiserID int64, causes []Cause, total int64) (int64, error) {
	signed := 0
	for _, cz := range causes {
		if cz.SignatureCount > 0 {
			signed++
		}
	}
	if signed <= 1 && len(causes) < maxOrgCauses {
		return total, nil
	}
	now := h.store.now()
	h.supporters.mu.Lock()
	c, ok := h.supporters.m[organiserID]
	h.supporters.mu.Unlock()
	if ok && now.Sub(c.at) < supportersKept && now.Sub(c.at) >= 0 {
		return c.n, nil
	}
	n, err := h.store.OrgSupporters(ctx, organiserID)
	if err != nil {
		return 0, err
	}
	h.supporters.mu.Lock()
	if len(h.supporters.m) >= 10000 {
		clear(h.supporters.m)
	}
	h.supporters.m[organiserID] = supporterCount{n: n, at: now}
	h.supporters.mu.Unlock()
	return n, nil
}

type orgCause struct {
	Cause Cause
	Open  bool
}

type orgPageData struct {
	Profile    Profile
	LogoURL    string
	URL        string
	Open       []orgCause
	Victories  []orgCause
	Ended      []orgCause
	Signatures int64
	// Supporters counts the people behind the signatures.
	Supporters int64
}

// maxOrgCauses bounds the causes an organisation page lists.
const maxOrgCauses = 200

// findOrg loads the organisation of the handle in the URL, with its
// public causes and their signatures; an unknown handle answers 404.
func (h *Handler) findOrg(c *gin.Context) (p Profile, causes []Cause, signatures int64, ok bool) {
	ctx := c.Request.Context()
	p, err := h.store.FindProfileByHandle(ctx, c.Param("handle"))
	if errors.Is(err, ErrNotFound) {
		c.AbortWithStatus(http.StatusNotFound)
		return p, nil, 0, false
	}
	if err == nil {
		causes, signatures, err = h.store.OrgCauses(ctx, p.OrganiserID, maxOrgCauses)
	}
	if err != nil {
		h.fail(c, err)
		return p, nil, 0, false
	}
	return p, causes, signatures, true
}

func (h *Handler) orgPage(c *gin.Context) {
	ctx := c.Request.Context()
	p, causes, total, ok := h.findOrg(c)
	if !ok {
		return
	}
	supporters, err := h.orgSupporters(ctx, p.OrganiserID, causes, total)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := orgPageData{Profile: p, URL: h.cfg.BaseURL + "/org/" + p.Handle, Signatures: total, Supporters: supporters}
	if p.Logo != "" {
		d.LogoURL = "/uploads/" + p.Logo
	}
	now := h.store.now()
	for _, cz := range causes {
		oc := orgCause{Cause: cz, Open: cz.Open(now)}
		switch {
		case cz.Status == Victory:
			d.Victories = append(d.Victories, oc)
		case oc.Open:
			d.Open = append(d.Open, oc)
		default:
			d.Ended = append(d.Ended, oc)
		}
	}
	publicCache(c)
	// Links to the page show its share card, which has its figures.
	meta := &templates.Meta{Title: p.Name, Description: p.About, URL: d.URL,
		Image: h.orgCardURL(h.newOrgCardKey(p, causes, total), p.Handle), ImageWidth: CardWidth, ImageHeight: CardHeight,
		ImageAlt: h.rdr.Catalogue.T(templates.LangOf(c), "OrgCardAlt", "Name", p.Name)}
	h.rdr.HTML(c, http.StatusOK, "campaigns/org.html", &templates.Page{Title: p.Name, Description: p.About, Meta: meta, Data: d})
}

// profileForm is the profile form as typed.
type profileForm struct {
	Handle  string `form:"handle"`
	Name    string `form:"org_name"`
	About   string `form:"about"`
	Website string `form:"website"`
}

func (f profileForm) input() ProfileInput {
	return ProfileInput{Handle: strings.ToLower(strings.TrimSpace(f.Handle)), Name: strings.TrimSpace(f.Name),
		About: strings.TrimSpace(f.About), Website: strings.TrimSpace(f.Website)}
}

type profilePageData struct {
	Form    profileForm
	Errors  FormErrors
	LogoURL string
	PageURL string
	Handle  string
}

func (h *Handler) profilePage(c *gin.Context) {
	o, _ := CurrentOrganiser(c)
	p, err := h.store.FindProfile(c.Request.Context(), o.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.renderProfile(c, http.StatusOK, p, profileForm{Handle: p.Handle, Name: p.Name, About: p.About, Website: p.Website}, nil)
}

func (h *Handler) renderProfile(c *gin.Context, status int, p Profile, f profileForm, errs FormErrors) {
	d := profilePageData{Form: f, Errors: errs, Handle: p.Handle}
	if p.Logo != "" {
		d.LogoURL = "/uploads/" + p.Logo
	}
	if p.Handle != "" {
		d.PageURL = "/org/" + p.Handle
	}
	c.Header("Cache-Control", "private, no-store")
	lang := templates.LangOf(c)
	h.rdr.HTML(c, status, "campaigns/org_profile.html", &templates.Page{Title: h.rdr.Catalogue.T(lang, "OrgProfileTitle"), NoIndex: true, Data: d})
}

func (h *Handler) saveProfile(c *gin.Context) {
	o, _ := CurrentOrganiser(c)
	var f profileForm
	if err := c.ShouldBind(&f); err != nil {
		h.badForm(c, err)
		return
	}
	ctx := c.Request.Context()
	cur, err := h.store.FindProfile(ctx, o.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	in := f.input()
	f.Handle = in.Handle
	errs := in.Validate()
	logo := ""
	if fh, err := c.FormFile("logo"); err == nil && fh.Size > 0 && !errs.Any() {
		logo, err = h.storeLogo(c, o, fh)
		switch {
		case errors.Is(err, errImageTooBig), errors.Is(err, errImageLimit):
			errs["logo"] = Problem{ID: err.Error(), Max: imageProblemMax(err)}
		case errors.Is(err, errImageType), errors.Is(err, errImageConfirm):
			errs["logo"] = Problem{ID: err.Error()}
		case err != nil:
			h.fail(c, err)
			return
		}
	} else if err == nil && fh.Size > 0 {
		// The rest of the form has errors: the logo is asked for again
		// rather than kept on disk for a profile not saved.
		errs["logo"] = Problem{ID: "OrgErrLogoAgain"}
	}
	if errs.Any() {
		h.renderProfile(c, http.StatusUnprocessableEntity, cur, f, errs)
		return
	}
	replaced, err := h.store.SaveProfile(ctx, o.ID, in, logo)
	if errors.Is(err, ErrConflict) {
		if logo != "" {
			removeImage(h.cfg.UploadDir, logo)
		}
		h.renderProfile(c, http.StatusUnprocessableEntity, cur, f, FormErrors{"handle": {ID: "OrgErrHandleTaken"}})
		return
	}
	if err != nil {
		if logo != "" {
			removeImage(h.cfg.UploadDir, logo)
		}
		h.fail(c, err)
		return
	}
	if replaced != "" {
		removeImage(h.cfg.UploadDir, replaced)
	}
	templates.SetFlash(c, "FlashSaved")
	c.Redirect(http.StatusSeeOther, "/account/organisation")
}

// storeLogo stores an organiser's logo with the checks and daily limit of
// cause images (see storeUpload), straight into the uploads folder: a
// profile form has nothing else to get wrong once its fields are valid.
func (h *Handler) storeLogo(c *gin.Context, o Organiser, fh *multipart.FileHeader) (string, error) {
	if !o.EmailConfirmed() {
		return "", errImageConfirm
	}
	if !o.Admin && !h.uploads.take(o.ID, h.store.now()) {
		return "", errImageLimit
	}
	name, err := saveImage(h.cfg.UploadDir, fh)
	if err != nil && !o.Admin {
		h.uploads.give(o.ID)
	}
	return name, err
}
