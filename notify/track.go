package notify

import (
	"context"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"
)

// Mail security scanners open every link of a mail within seconds of its
// delivery, often all at once, sometimes with HEAD, and follow links no
// person can see. A click that looks like that is counted (clicks and
// unique_clickers count every click) but not as a person's (human_clicks).
const (
	// scannerEarly: a click this soon after the mail was sent is a scanner's.
	scannerEarly = 10 * time.Second
	// scannerBurst: clicks on two different links of one mail this close
	// together are a scanner's, both of them.
	scannerBurst = 2 * time.Second
	// scannerAfterTrap: once the hidden link of a mail is followed, its
	// other clicks this close to it are the same scanner's.
	scannerAfterTrap = time.Minute
)

// scannerAgent matches the user agents of link scanners, previewers and
// scripts.
var scannerAgent = regexp.MustCompile(`(?i)bot\b|bot/|spider|crawl|preview|scan|barracuda|proofpoint|mimecast|urldefense|` +
	`safelinks|microsoft office|ms-office|python|curl/|wget|go-http-client|java/|okhttp|headlesschrome|phantomjs|libwww|` +
	`httpclient|symantec|trend ?micro|fortinet|sophos|ironport|forcepoint|zscaler|paloalto|cisco|check ?point|^-?$`)

type headKey struct{}

// HeadRequest marks ctx as that of a HEAD request, which the server hands
// to the GET routes. A tracked link asked for with HEAD is a scanner's,
// never a person's click.
func HeadRequest(ctx context.Context) context.Context { return context.WithValue(ctx, headKey{}, true) }

func isHead(c *gin.Context) bool {
	v, _ := c.Request.Context().Value(headKey{}).(bool)
	return v || c.Request.Method == http.MethodHead
}

// transparentGIF is the open-tracking image: one transparent pixel.
var transparentGIF = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// track answers GET /t/{token}: a tracked link redirects (302) to the
// address stored with its blast, and counts the click; the open image is
// served and counts the open. Anything else, tampered or unknown, is 404:
// the redirector sends nobody anywhere a blast did not name.
func (s *Blasts) track(c *gin.Context) {
	tok := c.Param("token")
	if l, ok := s.tokens.parse(clickToken, tok); ok {
		s.click(c, l)
		return
	}
	if l, ok := s.tokens.parse(openToken, tok); ok {
		s.open(c, l)
		return
	}
	c.AbortWithStatus(http.StatusNotFound)
}

func (s *Blasts) click(c *gin.Context, l linkToken) {
	ctx := c.Request.Context()
	b, err := s.blast(ctx, l.blast)
	if err != nil {
		s.fail(c, err)
		return
	}
	if l.link < 0 || l.link >= len(b.Links) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	if l.delivery > 0 {
		reason := ""
		switch {
		case isHead(c):
			reason = "head"
		case l.link == linkTrap:
			reason = "trap"
		case scannerAgent.MatchString(c.Request.UserAgent()):
			reason = "agent"
		}
		err := s.recordClick(ctx, b.ID, l.delivery, l.link, reason)
		if err != nil {
			s.fail(c, err)
			return
		}
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Redirect(http.StatusFound, b.Links[l.link])
}

// open counts a delivery's mail as opened (once) and serves the image.
func (s *Blasts) open(c *gin.Context, l linkToken) {
	if l.delivery > 0 && !isHead(c) {
		if err := s.recordOpen(c.Request.Context(), l.blast, l.delivery); err != nil {
			s.fail(c, err)
			return
		}
	}
	c.Header("Cache-Control", "no-store, private")
	c.Data(http.StatusOK, "image/gif", transparentGIF)
}
