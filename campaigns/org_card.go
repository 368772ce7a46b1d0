package campaigns

// The organisation's share card: /org/{handle}/card.png, the picture a
// link to its page shows.

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// The organisation card's layout, in pixels.
const (
	orgCardLogo      = 184 // the logo's square
	orgCardLogoTop   = 140
	orgCardFigureTop = 470 // the figures' baseline
	// orgCardLogoPixels bounds the logos drawn on a card: a bigger one
	// (uploads go up to 10,000 px a side) would take too much memory to
	// decode, and the card goes without it.
	orgCardLogoPixels = 25_000_000
)

// orgCardKey is everything an organisation's card shows.
type orgCardKey struct {
	org         int64
	name, logo  string
	lang        string
	open, shown int64
	over        bool
}

// newOrgCardKey makes the key of an organisation's card from its profile
// and its public causes (newest first, as OrgCauses returns them) with
// their signatures together. The card speaks the language of its newest
// cause.
func (h *Handler) newOrgCardKey(p Profile, causes []Cause, total int64) orgCardKey {
	k := orgCardKey{org: p.OrganiserID, name: p.Name, logo: p.Logo, lang: cardLang("")}
	if len(causes) > 0 {
		k.lang = cardLang(causes[0].Lang)
	}
	now := h.store.now()
	for _, cz := range causes {
		if cz.Status != Victory && cz.Open(now) {
			k.open++
		}
	}
	k.shown, k.over = cardCount(total)
	return k
}

func (k orgCardKey) etag() string {
	h := fnv.New64a()
	fmt.Fprintf(h, "orgcard/1 %d %q %q %s %d %d %t", k.org, k.name, k.logo, k.lang, k.open, k.shown, k.over)
	return `"` + strconv.FormatUint(h.Sum64(), 36) + `"`
}

// orgCardURL is the address of an organisation's card, with a version that
// changes with the picture (see cardURL).
func (h *Handler) orgCardURL(k orgCardKey, handle string) string {
	return h.cfg.BaseURL + "/org/" + handle + "/card.png?v=" + strings.Trim(k.etag(), `"`)
}

// orgCard answers an organisation's share card.
func (h *Handler) orgCard(c *gin.Context) {
	p, causes, total, ok := h.findOrg(c)
	if !ok {
		return
	}
	key := h.newOrgCardKey(p, causes, total)
	c.Header("Cache-Control", "public, max-age=300")
	h.serveCard(c, "org/"+strconv.FormatInt(p.OrganiserID, 10), key.etag(), func() ([]byte, error) { return h.drawOrgCard(key) })
}

// drawOrgCard draws an organisation's card: its logo if it has one, its
// name (wrapped, cut past three lines), and two figures, its open causes
// and the signatures on its causes.
func (h *Handler) drawOrgCard(k orgCardKey) ([]byte, error) {
	T := func(id string, args ...any) string { return h.rdr.Catalogue.T(k.lang, id, args...) }
	img, err := newCard()
	if err != nil {
		return nil, err
	}
	x, width := cardPad, cardInner
	if logo := h.orgLogo(k.logo); logo != nil {
		drawLogo(img, logo, image.Rect(cardPad, orgCardLogoTop, cardPad+orgCardLogo, orgCardLogoTop+orgCardLogo))
		x += orgCardLogo + 48
		width -= orgCardLogo + 48
	}
	// The name in the title's size on up to two lines, or smaller on
	// three, cut past them; level with the logo's middle.
	name, err := cardFace(true, cardTitleSize)
	if err != nil {
		return nil, err
	}
	lead := cardTitleLead
	lines := wrapText(name, k.name, width, cardTitleMax+1)
	if len(lines) > 2 {
		if name, err = cardFace(true, 50); err != nil {
			return nil, err
		}
		lead = 60
		lines = wrapText(name, k.name, width, cardTitleMax)
	}
	y := orgCardLogoTop + orgCardLogo/2 - (len(lines)-1)*lead/2 + 20
	for i, line := range lines {
		text(img, name, cardText, x, y+i*lead, line)
	}

	fill(img, image.Rect(cardPad, orgCardFigureTop-110, cardPad+cardInner, orgCardFigureTop-108), cardAccentSoft)
	big, err := cardFace(true, 64)
	if err != nil {
		return nil, err
	}
	label, err := cardFace(false, 30)
	if err != nil {
		return nil, err
	}
	signatures := h.rdr.Catalogue.Number(k.lang, k.shown)
	if k.over {
		signatures += "+"
	}
	half := cardInner / 2
	for i, f := range []struct{ n, label string }{
		{h.rdr.Catalogue.Number(k.lang, k.open), T("OrgCardOpen", "Count", k.open)},
		{signatures, T("OrgSignatures", "Count", k.shown)},
	} {
		fx := cardPad + i*half
		text(img, big, cardAccent, fx, orgCardFigureTop, cutLine(big, f.n, half-24))
		text(img, label, cardMuted, fx, orgCardFigureTop+48, cutLine(label, f.label, half-24))
	}
	return encodeCard(img)
}

// orgLogo decodes an organisation's uploaded logo, or returns nil when it
// has none, or it cannot be read or is too big to draw: the card goes
// without it rather than fail.
func (h *Handler) orgLogo(name string) image.Image {
	if name == "" || !uploadName.MatchString(name) {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(h.cfg.UploadDir, name))
	if err != nil {
		return nil
	}
	isWebP := strings.HasSuffix(name, ".webp")
	var cfg image.Config
	if isWebP {
		cfg, err = webp.DecodeConfig(bytes.NewReader(data))
	} else {
		cfg, _, err = image.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil || cfg.Width < 1 || cfg.Height < 1 || cfg.Width*cfg.Height > orgCardLogoPixels {
		return nil
	}
	var img image.Image
	if isWebP {
		img, err = webp.Decode(bytes.NewReader(data))
	} else {
		img, _, err = image.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return nil
	}
	return img
}

// drawLogo draws a logo into box, whole and centred, scaled to fit, on a
// thin frame the colour of the bar's background.
func drawLogo(img *image.RGBA, logo image.Image, box image.Rectangle) {
	fill(img, box, cardAccentSoft)
	inner := box.Inset(2)
	fill(img, inner, color.White)
	inner = inner.Inset(10)
	b := logo.Bounds()
	w, h := inner.Dx(), inner.Dy()
	if b.Dx()*h > b.Dy()*w {
		h = max(1, b.Dy()*w/b.Dx())
	} else {
		w = max(1, b.Dx()*h/b.Dy())
	}
	at := image.Rect(0, 0, w, h).Add(inner.Min).Add(image.Pt((inner.Dx()-w)/2, (inner.Dy()-h)/2))
	xdraw.CatmullRom.Scale(img, at, logo, b, xdraw.Over, nil)
}
