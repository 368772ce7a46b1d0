package notify

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"html/template"
	"regexp"
	"strconv"
	"strings"

	"github.com/rallyhq/rally/templates"
)

// blastTemplate names the mail template of blasts, and marks their outbox
// rows: the worker renders them through Blasts, not like other mails.
const blastTemplate = "blast"

// The first links of every blast: the hidden link no person sees (it leads
// to the cause, for a scanner that follows it), then the call to action.
// The body's links follow.
const (
	linkTrap = 0
	linkCTA  = 1
)

// hrefAttr matches a link's address in sanitised HTML.
var hrefAttr = regexp.MustCompile(`href="([^"]*)"`)

// blastLinks returns the addresses a blast's links may lead to, in the
// order of their indexes: the cause, the call to action, then every http
// or https link of the English and French bodies (once each, and none
// holding a tag, whose address differs per person).
func blastLinks(causeURL string, in BlastInput) []string {
	links := []string{causeURL, in.CTAURL}
	seen := map[string]bool{}
	for _, body := range []string{in.Body, in.BodyFR} {
		for _, m := range hrefAttr.FindAllStringSubmatch(string(templates.Markdown(body)), -1) {
			u := html.UnescapeString(m[1])
			if seen[u] || tagPattern.MatchString(u) {
				continue
			}
			if _, ok := httpURL(u); ok {
				seen[u] = true
				links = append(links, u)
			}
		}
	}
	return links
}

// holeKind is what goes in a hole of a prepared mail.
type holeKind int

const (
	holeFirstName holeKind = iota
	holeCauseTitle
	holeShareLink
	holeLink  // a tracked link: /t/{token}
	holeUnsub // /u/{token}
	holeOpen  // the open-tracking image
)

type hole struct {
	kind     holeKind
	fallback string // for holeFirstName
	link     int    // for holeLink
}

// part is a piece of a prepared mail: text as it is, or a hole.
type part struct {
	text string
	hole int // -1 for text
}

// preparedMail is a blast's mail in one version, rendered once through the
// mail templates with a marker wherever a person's own value goes (a tag,
// a tracked link, the unsubscribe link), then cut at the markers. A
// person's mail is its parts joined with their values: the preview, the
// test and every recipient's mail come from the same rendering.
type preparedMail struct {
	version string
	subject []part
	text    []part
	html    []part
	holes   []hole
}

// blastMailData is what templates/mail/blast.{html,txt} receive.
type blastMailData struct {
	Subject    string
	BodyHTML   template.HTML
	BodyText   string
	CTALabel   string
	CTAURL     string
	UnsubURL   string
	TrapURL    string
	OpenURL    string
	CauseTitle string
	Test       bool
}

// preparer builds one preparedMail, handing out markers for holes.
type preparer struct {
	nonce string
	holes []hole
	index map[hole]int
	re    *regexp.Regexp
}

func newPreparer() *preparer {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	// Letters and digits only: Markdown, the sanitiser and html/template
	// (in a URL too) leave the marker as it is, and a person could not
	// guess it to type it.
	nonce := "XRH" + hex.EncodeToString(b[:])
	return &preparer{nonce: nonce, index: map[hole]int{}, re: regexp.MustCompile(nonce + `H([0-9]+)X`)}
}

// marker returns the marker of h, adding the hole once.
func (p *preparer) marker(h hole) string {
	i, ok := p.index[h]
	if !ok {
		i = len(p.holes)
		p.holes = append(p.holes, h)
		p.index[h] = i
	}
	return p.nonce + "H" + strconv.Itoa(i) + "X"
}

// tags replaces the personal tags of s with markers.
func (p *preparer) tags(s string) string {
	return tagPattern.ReplaceAllStringFunc(s, func(t string) string {
		m := tagPattern.FindStringSubmatch(t)
		switch m[1] {
		case "first_name":
			return p.marker(hole{kind: holeFirstName, fallback: strings.TrimSpace(m[2])})
		case "cause_title":
			return p.marker(hole{kind: holeCauseTitle})
		case "share_link":
			return p.marker(hole{kind: holeShareLink})
		}
		return t
	})
}

// cut splits s at its markers.
func (p *preparer) cut(s string) []part {
	var out []part
	last := 0
	for _, m := range p.re.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			out = append(out, part{text: s[last:m[0]], hole: -1})
		}
		i, _ := strconv.Atoi(s[m[2]:m[3]])
		out = append(out, part{hole: i})
		last = m[1]
	}
	if last < len(s) {
		out = append(out, part{text: s[last:], hole: -1})
	}
	return out
}

// prepare renders b's version (en or fr) for r with markers for every
// person's values.
func prepare(r MailRenderer, b Blast, version string, test bool) (*preparedMail, error) {
	p := newPreparer()
	linkIndex := map[string]int{}
	for i, l := range b.Links {
		if i > linkCTA {
			linkIndex[l] = i
		}
	}
	subject, body, label := b.content(version)
	body = p.tags(body)
	bodyHTML := hrefAttr.ReplaceAllStringFunc(string(templates.Markdown(body)), func(a string) string {
		u := html.UnescapeString(a[len(`href="`) : len(a)-1])
		if i, ok := linkIndex[u]; ok {
			return `href="` + p.marker(hole{kind: holeLink, link: i}) + `"`
		}
		return a
	})
	data := blastMailData{
		Subject:    p.tags(subject),
		BodyHTML:   template.HTML(bodyHTML),
		BodyText:   p.textBody(body, linkIndex),
		CTALabel:   p.tags(label),
		CTAURL:     p.marker(hole{kind: holeLink, link: linkCTA}),
		UnsubURL:   p.marker(hole{kind: holeUnsub}),
		TrapURL:    p.marker(hole{kind: holeLink, link: linkTrap}),
		CauseTitle: p.marker(hole{kind: holeCauseTitle}),
		Test:       test,
	}
	if b.TrackOpens {
		data.OpenURL = p.marker(hole{kind: holeOpen})
	}
	m, err := r.Mail(version, blastTemplate, data)
	if err != nil {
		return nil, fmt.Errorf("render blast %d: %w", b.ID, err)
	}
	return &preparedMail{version: version, subject: p.cut(m.Subject), text: p.cut(m.Text), html: p.cut(m.HTML), holes: p.holes}, nil
}

var (
	// mdLink matches an inline Markdown link or image: [label](url "title").
	mdLink = regexp.MustCompile(`(!?)\[([^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"\n]*")?\s*\)`)
	// bareURL matches an address written out in text.
	bareURL = regexp.MustCompile(`https?://[^\s<>()\[\]"]+`)
)

// textBody turns a Markdown body into the text part: links written as
// "label (address)", images as their text, and every address that is one of
// the blast's links tracked. The rest stays as typed: Markdown reads well
// as plain text.
func (p *preparer) textBody(md string, linkIndex map[string]int) string {
	track := func(u string) string {
		if i, ok := linkIndex[u]; ok {
			return p.marker(hole{kind: holeLink, link: i})
		}
		return u
	}
	md = strings.ReplaceAll(md, "\r\n", "\n")
	var b strings.Builder
	last := 0
	for _, m := range mdLink.FindAllStringSubmatchIndex(md, -1) {
		b.WriteString(trackBare(md[last:m[0]], track))
		image, label, u := md[m[2]:m[3]] == "!", md[m[4]:m[5]], md[m[6]:m[7]]
		switch {
		case image:
			b.WriteString(label)
		case label == "" || label == u:
			b.WriteString(track(u))
		default:
			b.WriteString(label + " (" + track(u) + ")")
		}
		last = m[1]
	}
	b.WriteString(trackBare(md[last:], track))
	return b.String()
}

// trackBare replaces the addresses written out in s, less any punctuation
// that ends a sentence, with what track gives.
func trackBare(s string, track func(string) string) string {
	return bareURL.ReplaceAllStringFunc(s, func(u string) string {
		trimmed := strings.TrimRight(u, ".,;:!?'")
		return track(trimmed) + u[len(trimmed):]
	})
}

// recipient is who one mail of a blast goes to.
type recipient struct {
	delivery  int64 // 0 for a test mail
	firstName string
}

// personalise fills the holes of pm for one recipient of b.
func (s *Blasts) personalise(pm *preparedMail, b Blast, rc recipient) (subject, text, htmlBody, unsubURL string) {
	values := make([]string, len(pm.holes))
	for i, h := range pm.holes {
		switch h.kind {
		case holeFirstName:
			values[i] = rc.firstName
			if values[i] == "" {
				values[i] = h.fallback
			}
		case holeCauseTitle:
			values[i] = b.CauseTitle
		case holeShareLink:
			// A person's own sharing link goes here once sharing has codes.
			values[i] = b.CauseURL
		case holeLink:
			values[i] = s.cfg.BaseURL + "/t/" + s.tokens.make(linkToken{kind: clickToken, blast: b.ID, delivery: rc.delivery, link: h.link})
		case holeUnsub:
			values[i] = s.unsubURL(b.ID, rc.delivery)
			unsubURL = values[i]
		case holeOpen:
			values[i] = s.cfg.BaseURL + "/t/" + s.tokens.make(linkToken{kind: openToken, blast: b.ID, delivery: rc.delivery})
		}
	}
	if unsubURL == "" {
		unsubURL = s.unsubURL(b.ID, rc.delivery)
	}
	return join(pm.subject, values, false), join(pm.text, values, false), join(pm.html, values, true), unsubURL
}

func (s *Blasts) unsubURL(blast, delivery int64) string {
	return s.cfg.BaseURL + "/u/" + s.tokens.make(linkToken{kind: unsubToken, blast: blast, delivery: delivery})
}

// join puts parts and values together, the values escaped for HTML if
// escape is set.
func join(parts []part, values []string, escape bool) string {
	n := 0
	for _, p := range parts {
		if p.hole < 0 {
			n += len(p.text)
		} else {
			n += len(values[p.hole]) + 8
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range parts {
		switch {
		case p.hole < 0:
			b.WriteString(p.text)
		case escape:
			b.WriteString(html.EscapeString(values[p.hole]))
		default:
			b.WriteString(values[p.hole])
		}
	}
	return b.String()
}
