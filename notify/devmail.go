package notify

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"html/template"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// devMailListLimit is how many of the newest messages /dev/mail lists.
const devMailListLimit = 200

// devMailMaxBytes bounds how much of one .eml file the viewer reads.
const devMailMaxBytes = 10 << 20

// LoopbackOnly reports whether the request comes straight from this machine:
// its connection's address is loopback and it carries none of the headers a
// reverse proxy adds to name the client (Forwarded, X-Forwarded-For,
// X-Real-IP). A request that came through a proxy was not made here, whoever
// the proxy says sent it. Behind a reverse proxy on the same machine that
// does not say so, every request still looks local: the caller must then
// refuse loopback altogether (see DevMailRoutes).
func LoopbackOnly(c *gin.Context) bool {
	for _, h := range forwardingHeaders {
		if _, ok := c.Request.Header[h]; ok {
			return false
		}
	}
	host, _, err := net.SplitHostPort(c.Request.RemoteAddr)
	if err != nil {
		host = c.Request.RemoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// forwardingHeaders are the headers, in canonical form, by which proxies
// name a request's client.
var forwardingHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"}

// DevMailAccess returns middleware that admits requests straight from
// loopback (LoopbackOnly), or for which isAdmin (may be nil) reports a
// signed-in admin, and answers everything else with 404, so that a stranger
// does not learn the outbox exists.
func DevMailAccess(isAdmin func(*gin.Context) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if LoopbackOnly(c) || (isAdmin != nil && isAdmin(c)) {
			c.Next()
			return
		}
		c.AbortWithStatus(http.StatusNotFound)
	}
}

// DevMail serves the dev outbox's messages: a list at /dev/mail and each
// message at /dev/mail/{file}.
type DevMail struct {
	dir string
	rdr *templates.Renderer
}

// DevMailRoutes mounts the dev outbox viewer for the .eml files in dir:
//
//	GET /dev/mail              the newest messages: time, recipient, subject
//	GET /dev/mail/{file}       one message: headers, HTML part, text part
//	GET /dev/mail/{file}/html  the HTML part alone, sandboxed, for the iframe
//	GET /dev/mail/{file}/raw   the .eml source as text
//
// Every route runs allow first, since the messages hold confirmation links.
// The caller knows its configuration: behind a reverse proxy on this
// machine, loopback says nothing about who is asking, and allow must not
// admit it. A nil allow is DevMailAccess(nil): straight from loopback only.
func DevMailRoutes(r gin.IRoutes, rdr *templates.Renderer, dir string, allow gin.HandlerFunc) {
	if allow == nil {
		allow = DevMailAccess(nil)
	}
	h := &DevMail{dir: dir, rdr: rdr}
	r.GET("/dev/mail", allow, h.list)
	r.GET("/dev/mail/:file", allow, h.show)
	r.GET("/dev/mail/:file/html", allow, h.html)
	r.GET("/dev/mail/:file/raw", allow, h.raw)
}

// devMailSummary is one row of the list.
type devMailSummary struct {
	File    string
	Written time.Time
	To      string
	Subject string
}

// devMailListPage is the data of notify/devmail_list.html.
type devMailListPage struct {
	Dir   string
	Mails []devMailSummary
	Total int
	Limit int
}

// devMailHeader is one header line, decoded.
type devMailHeader struct {
	Name, Value string
}

// devMailShowPage is the data of notify/devmail_show.html.
type devMailShowPage struct {
	File    string
	Written time.Time
	From    string
	To      string
	Subject string
	Date    string
	ID      string
	Other   []devMailHeader
	HasHTML bool
	// Text is the text part, escaped, with its http(s) URLs made links.
	Text template.HTML
}

func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("X-Robots-Tag", "noindex")
}

func (h *DevMail) list(c *gin.Context) {
	noStore(c)
	entries, err := os.ReadDir(h.dir)
	if err != nil && !os.IsNotExist(err) {
		templates.Fail(c, fmt.Errorf("dev mail: %w", err))
		return
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && emlName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	data := devMailListPage{Dir: h.dir, Total: len(names), Limit: devMailListLimit}
	for _, name := range names[:min(len(names), devMailListLimit)] {
		s := devMailSummary{File: name, Written: fileTime(name)}
		if hdr, err := readHeader(filepath.Join(h.dir, name)); err == nil {
			s.To, s.Subject = formatAddresses(hdr.Get("To")), decodeHeader(hdr.Get("Subject"))
		}
		data.Mails = append(data.Mails, s)
	}
	lang := templates.LangOf(c)
	h.rdr.HTML(c, http.StatusOK, "notify/devmail_list.html", &templates.Page{
		Title: h.rdr.Catalogue.T(lang, "NotifyDevMailTitle"), NoIndex: true, Wide: true, Data: data})
}

func (h *DevMail) show(c *gin.Context) {
	m, ok := h.load(c)
	if !ok {
		return
	}
	noStore(c)
	data := devMailShowPage{
		File: m.file, Written: fileTime(m.file),
		From: formatAddresses(m.header.Get("From")), To: formatAddresses(m.header.Get("To")),
		Subject: decodeHeader(m.header.Get("Subject")), Date: m.header.Get("Date"),
		ID: m.header.Get("Message-Id"), HasHTML: m.html != "", Text: linkify(m.text),
	}
	shown := []string{"From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "Content-Type", "Content-Transfer-Encoding"}
	for name, values := range m.header {
		if slices.Contains(shown, name) {
			continue
		}
		for _, v := range values {
			data.Other = append(data.Other, devMailHeader{Name: name, Value: decodeHeader(v)})
		}
	}
	sort.Slice(data.Other, func(i, j int) bool { return data.Other[i].Name < data.Other[j].Name })
	title := data.Subject
	if title == "" {
		title = h.rdr.Catalogue.T(templates.LangOf(c), "NotifyDevMailTitle")
	}
	h.rdr.HTML(c, http.StatusOK, "notify/devmail_show.html", &templates.Page{
		Title: title, NoIndex: true, Wide: true, Data: data})
}

// html serves the HTML part on its own, for the show page's iframe. The CSP
// sandbox gives it an opaque origin with no scripts, forms or plugins; links
// open in a new tab (the <base target> added here) and leave the sandbox, so
// a confirmation link works as it would from a mail client.
func (h *DevMail) html(c *gin.Context) {
	m, ok := h.load(c)
	if !ok {
		return
	}
	if m.html == "" {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	noStore(c)
	c.Header("Content-Security-Policy", "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "+
		"img-src http: https: data:; style-src 'unsafe-inline'; font-src http: https: data:; frame-ancestors 'self'")
	c.Header("X-Frame-Options", "SAMEORIGIN")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "no-referrer")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(withBaseTarget(m.html)))
}

func (h *DevMail) raw(c *gin.Context) {
	file := c.Param("file")
	if !emlName.MatchString(file) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	b, err := readLimited(filepath.Join(h.dir, file))
	if err != nil {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	noStore(c)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": file}))
	c.Data(http.StatusOK, "text/plain; charset=utf-8", b)
}

// devMessage is a parsed .eml file.
type devMessage struct {
	file   string
	header mail.Header
	text   string
	html   string
}

// load reads the message named by the :file parameter. Only names the dev
// outbox writes are accepted, so no path outside the folder can be reached.
func (h *DevMail) load(c *gin.Context) (*devMessage, bool) {
	file := c.Param("file")
	if !emlName.MatchString(file) {
		c.AbortWithStatus(http.StatusNotFound)
		return nil, false
	}
	b, err := readLimited(filepath.Join(h.dir, file))
	if err != nil {
		c.AbortWithStatus(http.StatusNotFound)
		return nil, false
	}
	m, err := parseEML(b)
	if err != nil {
		templates.Fail(c, fmt.Errorf("dev mail %s: %w", file, err))
		return nil, false
	}
	m.file = file
	return m, true
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, devMailMaxBytes))
}

// readHeader reads only the header of an .eml file.
func readHeader(path string) (mail.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := mail.ReadMessage(bufio.NewReader(io.LimitReader(f, 64<<10)))
	if err != nil {
		return nil, err
	}
	return m.Header, nil
}

// fileTime reads the time a dev outbox file was written from its name.
func fileTime(name string) time.Time {
	stamp, _, _ := strings.Cut(name, "-")
	t, err := time.Parse(emlTimeLayout, stamp)
	if err != nil {
		return time.Time{}
	}
	return t
}

var wordDecoder = mime.WordDecoder{}

// decodeHeader undoes RFC 2047 encoding, leaving the raw value if it cannot.
func decodeHeader(v string) string {
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// formatAddresses shows an address header as people write it:
// Élodie Dupré <elodie@example.fr>.
func formatAddresses(v string) string {
	list, err := mail.ParseAddressList(v)
	if err != nil {
		return decodeHeader(v)
	}
	out := make([]string, len(list))
	for i, a := range list {
		if a.Name == "" {
			out[i] = a.Address
		} else {
			out[i] = a.Name + " <" + a.Address + ">"
		}
	}
	return strings.Join(out, ", ")
}

// parseEML extracts the header and the first text/plain and text/html parts.
func parseEML(b []byte) (*devMessage, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	m := &devMessage{header: msg.Header}
	err = m.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0)
	return m, err
}

func (m *devMessage) walk(contentType, encoding string, body io.Reader, depth int) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if depth > 4 || params["boundary"] == "" {
			return nil
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			// NextPart already decodes quoted-printable and drops the header.
			if err := m.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	switch mediaType {
	case "text/plain":
		if m.text == "" {
			b, err := io.ReadAll(body)
			if err != nil {
				return err
			}
			m.text = string(b)
		}
	case "text/html":
		if m.html == "" {
			b, err := io.ReadAll(body)
			if err != nil {
				return err
			}
			m.html = string(b)
		}
	}
	return nil
}

// newlineStripper drops CR and LF, which base64 bodies are wrapped with.
type newlineStripper struct{ r io.Reader }

func (s newlineStripper) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	j := 0
	for _, c := range p[:n] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	return j, err
}

var textURL = regexp.MustCompile(`https?://[^\s<>"']+`)

// linkify escapes text and turns the http(s) URLs in it into links that
// open in a new tab. Only the matched URLs become markup, always escaped.
func linkify(text string) template.HTML {
	var b strings.Builder
	last := 0
	for _, loc := range textURL.FindAllStringIndex(text, -1) {
		start, end := loc[0], loc[1]
		// Punctuation ending a sentence is not part of the URL.
		for end > start && strings.ContainsRune(".,;:!?)]}", rune(text[end-1])) {
			end--
		}
		if start < last || end <= start {
			continue
		}
		u := html.EscapeString(text[start:end])
		b.WriteString(html.EscapeString(text[last:start]))
		b.WriteString(`<a href="` + u + `" target="_blank" rel="noopener noreferrer">` + u + `</a>`)
		last = end
	}
	b.WriteString(html.EscapeString(text[last:]))
	return template.HTML(b.String())
}

var headOpen = regexp.MustCompile(`(?i)<head(\s[^>]*)?>`)

// withBaseTarget makes every link in an HTML document open in a new tab.
func withBaseTarget(doc string) string {
	const base = `<base target="_blank">`
	if loc := headOpen.FindStringIndex(doc); loc != nil {
		return doc[:loc[1]] + base + doc[loc[1]:]
	}
	return base + doc
}
