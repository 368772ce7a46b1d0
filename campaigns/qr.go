package campaigns

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"
	goqr "github.com/piglig/go-qr"

	"github.com/rallyhq/rally/templates"
)

// QRSize is the width and height of a cause's QR code image, in pixels.
const QRSize = 600

// qrLink is what a cause's QR code holds: its link, tagged so that the
// signatures it brings count under the QR code's channel.
func (h *Handler) qrLink(cz Cause) string { return h.causeURL(cz) + "?utm_source=" + SourceQR }

// qrCache keeps the QR code of each link: a cause's link never changes
// once it is published.
type qrCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

// qrPNG returns the QR code of link as a QRSize×QRSize PNG: black modules
// on white, each a whole number of pixels, with the quiet zone of at least
// four modules that readers need. go-qr (MIT, no dependencies) makes the
// symbol, at error correction level M, which survives a poster's creases.
func qrPNG(link string) ([]byte, error) {
	code, err := goqr.EncodeText(link, goqr.Medium)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	n := code.Size()
	scale := QRSize / (n + 8)
	if scale < 1 {
		return nil, fmt.Errorf("qr code: %d modules do not fit %d pixels", n, QRSize)
	}
	off := (QRSize - n*scale) / 2
	img := image.NewPaletted(image.Rect(0, 0, QRSize, QRSize), color.Palette{color.White, color.Black})
	for y := range n {
		for x := range n {
			if !code.Module(x, y) {
				continue
			}
			for dy := range scale {
				row := img.Pix[(off+y*scale+dy)*img.Stride:]
				for dx := range scale {
					row[off+x*scale+dx] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return buf.Bytes(), nil
}

// qr answers the cause's QR code, a PNG of its link.
func (h *Handler) qr(c *gin.Context) {
	cz, _, ok := h.findVisible(c, c.Param("slug"))
	if !ok {
		return
	}
	link := h.qrLink(cz)
	hash := fnv.New64a()
	hash.Write([]byte("qr/1 " + link))
	etag := `"` + strconv.FormatUint(hash.Sum64(), 36) + `"`
	c.Header("ETag", etag)
	imageCache(c, cz, 86400)
	if inm := c.GetHeader("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		c.Status(http.StatusNotModified)
		return
	}
	h.qrs.mu.Lock()
	b, ok := h.qrs.m[link]
	h.qrs.mu.Unlock()
	if !ok {
		var err error
		if b, err = qrPNG(link); err != nil {
			h.fail(c, err)
			return
		}
		h.qrs.mu.Lock()
		if len(h.qrs.m) >= 1000 {
			clear(h.qrs.m)
		}
		h.qrs.m[link] = b
		h.qrs.mu.Unlock()
	}
	c.Data(http.StatusOK, "image/png", b)
}

// posterData is the printable poster of a cause.
type posterData struct {
	Cause Cause
	URL   string
	// Lines are the rows of the sheet to sign on paper.
	Lines []int
}

// posterLines is how many people can sign the poster's sheet: as many as
// fit on one A4 page under the longest title and summary.
const posterLines = 10

// poster answers the cause's printable poster: its title, summary and QR
// code, and a sheet to collect signatures on paper, on one A4 page.
func (h *Handler) poster(c *gin.Context) {
	cz, _, ok := h.findVisible(c, c.Param("slug"))
	if !ok {
		return
	}
	lang := templates.LangOf(c)
	d := posterData{Cause: cz, URL: h.causeURL(cz), Lines: make([]int, posterLines)}
	for i := range d.Lines {
		d.Lines[i] = i + 1
	}
	publicCache(c)
	h.rdr.HTML(c, http.StatusOK, "campaigns/poster.html", &templates.Page{
		Title: h.rdr.Catalogue.T(lang, "PosterTitle", "Title", cz.Title), NoIndex: true, Data: d})
}
