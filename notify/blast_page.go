package notify

// A blast's page, its JSON and the preview of its mail.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// blastJSON is GET …/blasts/{id}.json.
type blastJSON struct {
	ID             int64  `json:"id"`
	Status         string `json:"status"`
	Recipients     int64  `json:"recipients"`
	Queued         int64  `json:"queued"`
	Sent           int64  `json:"sent"`
	Failed         int64  `json:"failed"`
	Bounced        int64  `json:"bounced"`
	Suppressed     int64  `json:"suppressed"`
	Clicks         int64  `json:"clicks"`
	UniqueClickers int64  `json:"unique_clickers"`
	HumanClicks    int64  `json:"human_clicks"`
	Unsubscribes   int64  `json:"unsubscribes"`
}

type blastPageData struct {
	Cause   Cause
	Blast   Blast
	Counts  BlastCounts
	Links   []LinkStats
	Problem string
	// Audience is who it goes to: counted now for a draft, the delivery
	// rows once sent.
	Audience int64
	// Progress while it sends.
	Done    int64
	Percent int64
	Rate    int64 // messages a minute since it started
	Left    string
	// Send form.
	SendAt   string
	TZ       string
	GuessTZ  bool // no zone known: the browser may offer its own
	Zones    []string
	SendAtTZ string // the scheduled time, in its zone
	// CountryList names the countries it is limited to.
	CountryList string
	// Preview.
	Subject   string
	SubjectFR string
	Text      string
	TextFR    string
	CanSend   bool
	Editable  bool
	Live      bool
	Sending   bool
	HumanRate string
	// WaitingBehind counts the transactional mails due now, which go
	// before the blast's: shown past waitingShown while it sends (blast.js
	// takes the note away once the blast sends again).
	WaitingBehind int64
}

// waitingShown is how many transactional mails must be waiting before the
// blast's page says its mail waits behind them: a second's worth at the
// default rate, so a confirmation or two in passing says nothing.
const waitingShown = 50

// waitingBehind counts the transactional mails due now, which the worker
// sends before any bulk mail; 0 unless b is sending.
func (s *Blasts) waitingBehind(ctx context.Context, b Blast) (int64, error) {
	if b.Status != BlastSending {
		return 0, nil
	}
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE status = 'queued' AND priority = ? AND next_attempt_at <= ?`,
		int(Transactional), s.now()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("transactional mail waiting: %w", err)
	}
	return n, nil
}

func (s *Blasts) show(c *gin.Context) {
	cz, b, o, ok := s.ownBlast(c)
	if !ok {
		return
	}
	if strings.HasSuffix(c.Param("id"), ".json") {
		s.json(c, b)
		return
	}
	s.renderBlast(c, http.StatusOK, cz, b, o, "")
}

func (s *Blasts) json(c *gin.Context, b Blast) {
	counts, err := s.counts(c.Request.Context(), b.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.JSON(http.StatusOK, blastJSON{ID: b.ID, Status: b.Status, Recipients: b.Recipients, Queued: counts.Queued,
		Sent: counts.Sent, Failed: counts.Failed, Bounced: counts.Bounced, Suppressed: counts.Suppressed,
		Clicks: counts.Clicks, UniqueClickers: counts.UniqueClickers, HumanClicks: counts.HumanClicks,
		Unsubscribes: counts.Unsubscribes})
}

// zones are offered in the send form's list of time zones; any IANA name
// may be typed.
var zones = []string{"UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Brussels",
	"Europe/Amsterdam", "Europe/Berlin", "Europe/Madrid", "Europe/Rome", "Europe/Zurich", "Europe/Stockholm",
	"Europe/Warsaw", "Europe/Athens", "Europe/Helsinki", "Africa/Casablanca", "Africa/Dakar", "Africa/Abidjan",
	"Africa/Kinshasa", "Africa/Lagos", "Africa/Nairobi", "Africa/Johannesburg", "America/Montreal", "America/Toronto",
	"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Mexico_City",
	"America/Sao_Paulo", "America/Martinique", "America/Cayenne", "Indian/Reunion", "Pacific/Noumea", "Pacific/Tahiti",
	"Asia/Dubai", "Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney"}

// renderBlast renders the blast's page with a problem (translated);
// sendAt and tz are what was typed into the send form.
func (s *Blasts) renderBlast(c *gin.Context, status int, cz Cause, b Blast, o Organiser, problem string, sendAt ...string) {
	ctx := c.Request.Context()
	counts, err := s.counts(ctx, b.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	d := blastPageData{Cause: cz, Blast: b, Counts: counts, CanSend: o.Confirmed || o.Admin,
		Editable: b.Editable(), Live: b.Live(), Sending: b.Status == BlastSending, Zones: zones}
	d.Problem = problem
	d.CountryList = strings.Join(b.Countries, ", ")
	// The zone offered: what was typed, else the blast's own, else the
	// zone the organiser last scheduled in; with none, the browser's
	// (blast.js), and UTC without JavaScript.
	if len(sendAt) == 2 {
		d.SendAt, d.TZ = sendAt[0], sendAt[1]
	}
	if d.TZ == "" && b.SendAt != nil {
		d.TZ = b.TZ
	}
	if d.TZ == "" {
		if d.TZ, err = s.organiserZone(ctx, o.ID); err != nil {
			s.fail(c, err)
			return
		}
	}
	if d.TZ == "" {
		d.TZ, d.GuessTZ = "UTC", true
	}
	if d.Links, err = s.linkStats(ctx, b); err != nil {
		s.fail(c, err)
		return
	}
	if b.Status == BlastDraft || b.Status == BlastScheduled {
		if d.Audience, err = s.audienceSize(ctx, cz.ID, b.Countries); err != nil {
			s.fail(c, err)
			return
		}
	} else {
		d.Audience = b.Recipients
	}
	if b.SendAt != nil {
		loc, err := time.LoadLocation(b.TZ)
		if err != nil {
			loc = time.UTC
		}
		d.SendAtTZ = b.SendAt.In(loc).Format("2006-01-02 15:04") + " (" + loc.String() + ")"
	}
	if d.WaitingBehind, err = s.waitingBehind(ctx, b); err != nil {
		s.fail(c, err)
		return
	}
	if d.WaitingBehind < waitingShown {
		d.WaitingBehind = 0
	}
	d.Done = counts.Done()
	if b.Recipients > 0 {
		d.Percent = min(d.Done*100/b.Recipients, 100)
	}
	if b.StartedAt != nil && counts.Sent > 0 {
		end := s.now()
		if b.FinishedAt != nil {
			end = *b.FinishedAt
		}
		if secs := end.Sub(*b.StartedAt).Seconds(); secs > 0 {
			perSec := float64(d.Done) / secs
			d.Rate = int64(perSec * 60)
			if left := b.Recipients - d.Done; left > 0 && perSec > 0 && b.Status == BlastSending {
				d.Left = roundDuration(time.Duration(float64(left) / perSec * float64(time.Second)))
			}
		}
	}
	// The preview: the mail as the organiser would get it.
	rc := recipient{firstName: FirstName(o.Name)}
	var m Message
	if err := s.mailFor(b, "en", rc, false, &m); err != nil {
		s.fail(c, err)
		return
	}
	d.Subject, d.Text = m.Subject, m.Text
	if b.HasFrench() {
		var fr Message
		if err := s.mailFor(b, "fr", rc, false, &fr); err != nil {
			s.fail(c, err)
			return
		}
		d.SubjectFR, d.TextFR = fr.Subject, fr.Text
	}
	s.page(c, status, "notify/blast.html", b.Subject+" · "+cz.Title, d)
}

// roundDuration writes d as "1h05m", "4m10s" or "12s".
func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Hour:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", max(int(d.Round(time.Second).Seconds()), 1))
}

// preview serves a version of the mail's HTML part alone, for the blast
// page's frame, as the organiser would get it: sandboxed, with no script,
// links opening a new tab.
func (s *Blasts) preview(c *gin.Context) {
	_, b, o, ok := s.ownBlast(c)
	if !ok {
		return
	}
	version := "en"
	if c.Query("version") == "fr" && b.HasFrench() {
		version = "fr"
	}
	var m Message
	if err := s.mailFor(b, version, recipient{firstName: FirstName(o.Name)}, false, &m); err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.Header("Content-Security-Policy", "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "+
		"img-src http: https: data:; style-src 'unsafe-inline'; frame-ancestors 'self'")
	c.Header("X-Frame-Options", "SAMEORIGIN")
	c.Header("Referrer-Policy", "no-referrer")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(withBaseTarget(m.HTML)))
}
