package campaigns

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"

	"github.com/rallyhq/rally/templates"
)

// The share card's size: what Facebook, X, LinkedIn and the rest show
// best for a link (1.91:1).
const (
	CardWidth  = 1200
	CardHeight = 630
)

// The card's look: static/css/app.css's light colours.
var (
	cardAccent     = color.RGBA{0xc2, 0x36, 0x2b, 0xff} // --accent
	cardAccentSoft = color.RGBA{0xfb, 0xe9, 0xe7, 0xff} // --accent-soft
	cardText       = color.RGBA{0x1f, 0x23, 0x28, 0xff} // --text
	cardMuted      = color.RGBA{0x57, 0x60, 0x6a, 0xff} // --muted
	cardSuccess    = color.RGBA{0x1a, 0x7f, 0x37, 0xff} // --success
)

// The card's layout, in pixels.
const (
	cardPad       = 80                    // left and right margins
	cardInner     = CardWidth - 2*cardPad // the width text and bar take
	cardTitleSize = 62                    // title's font size
	cardTitleLead = 74                    // between its lines
	cardTitleMax  = 3                     // lines at most
	cardBarTop    = 520                   // the progress bar's top
	cardBarHeight = 28                    // and its height
	cardBarBottom = cardBarTop + cardBarHeight
)

// Go's own fonts (BSD licence), parsed once: regular and bold.
var cardFonts = sync.OnceValues(func() ([2]*sfnt.Font, error) {
	var fonts [2]*sfnt.Font
	for i, ttf := range [][]byte{goregular.TTF, gobold.TTF} {
		f, err := opentype.Parse(ttf)
		if err != nil {
			return fonts, fmt.Errorf("share card: font: %w", err)
		}
		fonts[i] = f
	}
	return fonts, nil
})

// cardCount is the count a card shows: exact under a thousand, then
// rounded down to three significant figures ("12,300 and more"), so the
// card changes when the count moves enough to see, not at every
// confirmation of a cause going viral.
func cardCount(n int64) (shown int64, over bool) {
	if n < 1000 {
		return n, false
	}
	step := int64(10)
	for n/step >= 1000 {
		step *= 10
	}
	shown = n / step * step
	return shown, shown != n
}

// cardKey is everything a card shows: two causes' cards are the same
// picture when their keys are equal.
type cardKey struct {
	cause, update int64
	shown, goal   int64
	over          bool
	status        Status
}

func newCardKey(cz Cause) cardKey {
	shown, over := cardCount(cz.SignatureCount)
	return cardKey{cause: cz.ID, update: cz.UpdatedAt.UnixNano(), shown: shown, over: over,
		goal: NextGoal(shown, cz.Goal), status: cz.Status}
}

// etag is the card's entity tag, made from its key: a client that has the
// card gets 304 without it being drawn again.
func (k cardKey) etag() string {
	h := fnv.New64a()
	fmt.Fprintf(h, "card/1 %d %d %d %d %t %s", k.cause, k.update, k.shown, k.goal, k.over, k.status)
	return `"` + strconv.FormatUint(h.Sum64(), 36) + `"`
}

// cardCache keeps the latest card of each cause and organisation, drawn
// once for its entity tag.
type cardCache struct {
	mu       sync.Mutex
	m        map[string]drawnCard // by whose card it is: "c/ID", "org/ID"
	bytes    int
	maxBytes int
	draws    atomic.Int64 // for tests
}

type drawnCard struct {
	etag string
	png  []byte
}

func newCardCache() *cardCache { return &cardCache{m: map[string]drawnCard{}, maxBytes: 32 << 20} }

// get returns the card of whose as etag names it, drawing it if the one
// kept has another tag. Drawing holds the lock: a crowd asking for a new
// card waits for one drawing instead of each making its own.
func (cc *cardCache) get(whose, etag string, draw func() ([]byte, error)) ([]byte, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if e, ok := cc.m[whose]; ok && e.etag == etag {
		return e.png, nil
	}
	cc.draws.Add(1)
	b, err := draw()
	if err != nil {
		return nil, err
	}
	if old, ok := cc.m[whose]; ok {
		cc.bytes -= len(old.png)
	}
	if cc.bytes+len(b) > cc.maxBytes {
		clear(cc.m)
		cc.bytes = 0
	}
	cc.m[whose] = drawnCard{etag: etag, png: b}
	cc.bytes += len(b)
	return b, nil
}

// cardURL is the address of the cause's card, with a version that changes
// with the picture, so a social network that keeps images by address
// fetches the new one.
func (h *Handler) cardURL(cz Cause) string {
	return h.causeURL(cz) + "/card.png?v=" + strings.Trim(newCardKey(cz).etag(), `"`)
}

// card answers the cause's share card: a PNG drawn by Rally, kept until
// what it shows changes, with an ETag.
func (h *Handler) card(c *gin.Context) {
	cz, _, ok := h.findVisible(c, c.Param("slug"))
	if !ok {
		return
	}
	key := newCardKey(cz)
	imageCache(c, cz, 300)
	h.serveCard(c, "c/"+strconv.FormatInt(cz.ID, 10), key.etag(), func() ([]byte, error) { return h.drawCard(cz, key) })
}

// serveCard answers a share card with its entity tag: 304 to a client
// that has it, else the PNG, drawn once for as long as the tag stays. The
// caller says how long caches may keep it.
func (h *Handler) serveCard(c *gin.Context, whose, etag string, draw func() ([]byte, error)) {
	c.Header("ETag", etag)
	if inm := c.GetHeader("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		c.Status(http.StatusNotModified)
		return
	}
	b, err := h.cards.get(whose, etag, draw)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "image/png", b)
}

// imageCache lets caches keep a public cause's picture for maxAge
// seconds; a draft's, which only its organiser sees, no shared cache keeps.
func imageCache(c *gin.Context, cz Cause, maxAge int) {
	if !cz.Public() {
		c.Header("Cache-Control", "private, no-cache")
		return
	}
	c.Header("Cache-Control", "public, max-age="+strconv.Itoa(maxAge))
}

// etagMatch reports whether an If-None-Match header names etag.
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// drawCard draws the card of the cause as key says, in the cause's own
// language: the title (wrapped, cut with an ellipsis past three lines), to
// whom, the count, the progress bar and the next goal.
func (h *Handler) drawCard(cz Cause, key cardKey) ([]byte, error) {
	lang := cardLang(cz.Lang)
	T := func(id string, args ...any) string { return h.rdr.Catalogue.T(lang, id, args...) }
	img, err := newCard()
	if err != nil {
		return nil, err
	}
	title, err := cardFace(true, cardTitleSize)
	if err != nil {
		return nil, err
	}
	y := 190
	for i, line := range wrapText(title, cz.Title, cardInner, cardTitleMax) {
		if i > 0 {
			y += cardTitleLead
		}
		text(img, title, cardText, cardPad, y, line)
	}
	if cz.Target != "" {
		to, err := cardFace(false, 32)
		if err != nil {
			return nil, err
		}
		y += 58
		text(img, to, cardMuted, cardPad, y, cutLine(to, T("CauseTo", "Target", cz.Target), cardInner))
	}

	count, err := cardFace(true, 44)
	if err != nil {
		return nil, err
	}
	var said string
	switch {
	case key.shown == 0:
		said = T("CauseSignedNone")
	case key.over:
		said = T("CardCountOver", "Count", key.shown)
	default:
		said = T("CauseSignedCount", "Count", key.shown)
	}
	text(img, count, cardText, cardPad, cardBarTop-26, cutLine(count, said, cardInner))

	fill(img, image.Rect(cardPad, cardBarTop, cardPad+cardInner, cardBarBottom), cardAccentSoft)
	done := int(min(key.shown, key.goal) * cardInner / max(key.goal, 1))
	bar := cardAccent
	if key.status == Victory {
		bar, done = cardSuccess, cardInner
	}
	fill(img, image.Rect(cardPad, cardBarTop, cardPad+done, cardBarBottom), bar)

	small, err := cardFace(false, 28)
	if err != nil {
		return nil, err
	}
	var next string
	switch key.status {
	case Victory:
		next = T("CauseVictory")
	case Closed:
		next = T("CauseClosed")
	default:
		next = T("CauseNextGoal", "Goal", h.rdr.Catalogue.Number(lang, key.goal))
	}
	text(img, small, cardMuted, cardPad, cardBarBottom+44, cutLine(small, next, cardInner))
	return encodeCard(img)
}

// cardLang is the language a card is drawn in: lang if Rally speaks it,
// else the first of its languages.
func cardLang(lang string) string {
	if !slices.Contains(templates.Languages, lang) {
		return templates.Languages[0]
	}
	return lang
}

// cardFace returns Go's regular or bold font at size.
func cardFace(bold bool, size float64) (font.Face, error) {
	fonts, err := cardFonts()
	if err != nil {
		return nil, err
	}
	f := fonts[0]
	if bold {
		f = fonts[1]
	}
	return opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
}

// newCard returns a blank card: white, the accent's strip along the top,
// and Rally's name.
func newCard() (*image.RGBA, error) {
	img := image.NewRGBA(image.Rect(0, 0, CardWidth, CardHeight))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	fill(img, image.Rect(0, 0, CardWidth, 14), cardAccent)
	brand, err := cardFace(true, 34)
	if err != nil {
		return nil, err
	}
	text(img, brand, cardAccent, cardPad, 92, "Rally")
	return img, nil
}

// encodeCard returns a drawn card as PNG.
func encodeCard(img *image.RGBA) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("share card: %w", err)
	}
	return buf.Bytes(), nil
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// text draws s with its baseline at y, from x.
func text(img *image.RGBA, face font.Face, c color.Color, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// drawable returns s as face can draw it: the spaces that keep French
// punctuation on its line become plain ones where the font has none, and
// characters it has no glyph for (emoji, scripts beyond Latin, Greek and
// Cyrillic) are left out rather than drawn as boxes.
func drawable(face font.Face, s string) string {
	return strings.Map(func(r rune) rune {
		if _, ok := face.GlyphAdvance(r); ok {
			return r
		}
		switch {
		case r == '\u202f' || r == '\u2007':
			if _, ok := face.GlyphAdvance('\u00a0'); ok {
				return '\u00a0'
			}
			return ' '
		case unicode.IsSpace(r):
			return ' '
		}
		return -1
	}, s)
}

// words splits s where a line may break: at spaces, but not the
// non-breaking ones French puts before : ; ! ? and inside « ».
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) && r != '\u00a0' && r != '\u202f' && r != '\u2007'
	})
}

// ellipsis ends a line cut short.
const ellipsis = "…"

// wrapText breaks s into lines no wider than width, at most max of them;
// when it does not fit, the last line is cut with an ellipsis at a word's
// end where it can be.
func wrapText(face font.Face, s string, width, max int) []string {
	w := fixed.I(width)
	var lines []string
	line := ""
	for _, word := range words(drawable(face, s)) {
		try := word
		if line != "" {
			try = line + " " + word
		}
		if font.MeasureString(face, try) <= w {
			line = try
			continue
		}
		if line != "" {
			lines = append(lines, line)
		}
		// A word wider than the line on its own is broken where it
		// must be.
		for font.MeasureString(face, word) > w {
			cut := fitRunes(face, word, w)
			lines = append(lines, word[:cut])
			word = word[cut:]
		}
		line = word
	}
	if line != "" {
		lines = append(lines, line)
	}
	if len(lines) <= max {
		return lines
	}
	// The last line takes what it can of the rest, and says there is more.
	rest := strings.Join(lines[max-1:], " ")
	return append(lines[:max-1], withEllipsis(face, rest, w))
}

// cutLine returns s whole if it fits in width, else cut with an ellipsis,
// at the end of a word where one leaves at least half the line.
func cutLine(face font.Face, s string, width int) string {
	s = drawable(face, s)
	w := fixed.I(width)
	if font.MeasureString(face, s) <= w {
		return s
	}
	return withEllipsis(face, s, w)
}

// withEllipsis returns the longest start of s that fits in w with an
// ellipsis after it, cut after a word if that keeps at least half of it.
func withEllipsis(face font.Face, s string, w fixed.Int26_6) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ellipsis)
	room := w - font.MeasureString(face, ellipsis)
	cut := fitRunes(face, s, room)
	if i := strings.LastIndexByte(s[:cut], ' '); i > cut/2 {
		cut = i
	}
	return strings.TrimRight(s[:cut], " ,;:.-–—") + ellipsis
}

// fitRunes returns how many bytes of s, whole runes, fit in w.
func fitRunes(face font.Face, s string, w fixed.Int26_6) int {
	end := 0
	for i := range s {
		if i > 0 && font.MeasureString(face, s[:i]) > w {
			break
		}
		end = i
	}
	if font.MeasureString(face, s) <= w {
		return len(s)
	}
	if end == 0 && len(s) > 0 {
		// Not even one character fits: keep one, so lines always move on.
		_, n := utf8.DecodeRuneInString(s)
		return n
	}
	return end
}
