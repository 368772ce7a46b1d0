package notify

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// A blast's status.
const (
	BlastDraft     = "draft"
	BlastScheduled = "scheduled"
	BlastSending   = "sending"
	BlastPaused    = "paused"
	BlastCancelled = "cancelled"
	BlastSent      = "sent"
)

// A delivery's state.
const (
	deliveryQueued     = "queued"     // written by the fan-out, not yet in the outbox
	deliverySending    = "sending"    // in the outbox, waiting for the worker or retried
	deliverySent       = "sent"       // the mail server took it
	deliveryFailed     = "failed"     // refused (a policy, not the address), or out of retries
	deliveryBounced    = "bounced"    // the mailbox does not exist: suppressed from then on
	deliverySuppressed = "suppressed" // unsubscribed or bounced after the blast started
	deliveryCancelled  = "cancelled"  // the blast was cancelled before it went
)

// Limits of what an organiser types into a blast.
const (
	maxSubject  = 200   // characters
	maxBody     = 20000 // characters
	maxCTALabel = 60    // characters
	maxURL      = 2000  // bytes
	maxFallback = 50    // characters
)

// Blast is an organiser's email to the supporters of a cause who asked for
// updates.
type Blast struct {
	ID          int64
	CauseID     int64
	OrganiserID int64
	Status      string
	BlastInput
	// Fixed when saved, and again when sent.
	CauseTitle string
	CauseURL   string
	Links      []string // where its links may lead: see blastLinks
	FromName   string   // the sender's name, shown as "Ana via Rally"
	ReplyTo    string   // the sender's address
	SendAt     *time.Time
	TZ         string
	// Recipients counts the delivery rows written so far: all of them
	// once AudienceDone.
	Recipients   int64
	AudienceDone bool
	AudiencePos  int64
	StartedAt    *time.Time
	FinishedAt   *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Editable reports whether the blast's content may still change.
func (b Blast) Editable() bool { return b.Status == BlastDraft }

// Live reports whether the blast is on its way: scheduled, sending or
// paused.
func (b Blast) Live() bool {
	return b.Status == BlastScheduled || b.Status == BlastSending || b.Status == BlastPaused
}

// HasFrench reports whether the blast has a French version.
func (b Blast) HasFrench() bool { return strings.TrimSpace(b.SubjectFR) != "" }

// version returns the language of the version a person who signed in lang
// gets: theirs if the blast has it, else English.
func (b Blast) version(lang string) string {
	if lang == "fr" && b.HasFrench() {
		return "fr"
	}
	return "en"
}

// content returns the subject, body and call-to-action label of a version.
func (b Blast) content(version string) (subject, body, label string) {
	if version == "fr" {
		label = b.CTALabelFR
		if strings.TrimSpace(label) == "" {
			label = b.CTALabel
		}
		return b.SubjectFR, b.BodyFR, label
	}
	return b.Subject, b.Body, b.CTALabel
}

// BlastInput is what an organiser writes: the English version, an optional
// French one, and who gets it.
type BlastInput struct {
	Subject    string
	Body       string // Markdown, with tags
	CTALabel   string
	CTAURL     string // http or https
	SubjectFR  string
	BodyFR     string
	CTALabelFR string
	// Countries, when set, limits the blast to signers of these countries
	// (ISO 3166 alpha-2).
	Countries  []string
	TrackOpens bool
}

// Problem is what is wrong with one field: a message ID of the catalogue
// and its arguments.
type Problem struct {
	ID   string
	Args []any
}

// FieldErrors maps a form field to what is wrong with it.
type FieldErrors map[string]Problem

// tagPattern matches a personal tag: {first_name|fallback}, {cause_title},
// {share_link}. Braces around anything else (capitals, spaces) are text.
var tagPattern = regexp.MustCompile(`\{([a-z_]+)(?:\|([^{}\n]*))?\}`)

// knownTags are the tags a blast may use.
var knownTags = map[string]bool{"first_name": true, "cause_title": true, "share_link": true}

// Validate trims what was typed and reports what is wrong with it, by field.
func (in *BlastInput) Validate() FieldErrors {
	errs := FieldErrors{}
	for _, p := range []*string{&in.Subject, &in.CTALabel, &in.CTAURL, &in.SubjectFR, &in.CTALabelFR} {
		*p = strings.TrimSpace(strings.ToValidUTF8(*p, "\uFFFD"))
	}
	in.Body = strings.ToValidUTF8(strings.TrimRight(in.Body, " \t\r\n"), "\uFFFD")
	in.BodyFR = strings.ToValidUTF8(strings.TrimRight(in.BodyFR, " \t\r\n"), "\uFFFD")
	text := func(field, v string, required bool, limit int, missing string) {
		switch {
		case v == "" && required:
			errs[field] = Problem{ID: missing}
		case utf8.RuneCountInString(v) > limit:
			errs[field] = Problem{ID: "BlastErrTooLong", Args: []any{"Max", limit}}
		case strings.ContainsAny(v, "\r\n") && field != "body" && field != "body_fr":
			errs[field] = Problem{ID: "BlastErrOneLine"}
		default:
			if p, bad := badTag(v); bad {
				errs[field] = p
			}
		}
	}
	text("subject", in.Subject, true, maxSubject, "BlastErrSubject")
	text("body", in.Body, true, maxBody, "BlastErrBody")
	text("cta_label", in.CTALabel, true, maxCTALabel, "BlastErrCTALabel")
	if u, ok := httpURL(in.CTAURL); !ok {
		errs["cta_url"] = Problem{ID: "BlastErrCTAURL"}
	} else {
		in.CTAURL = u
	}
	french := in.SubjectFR != "" || in.BodyFR != "" || in.CTALabelFR != ""
	text("subject_fr", in.SubjectFR, french, maxSubject, "BlastErrSubjectFR")
	text("body_fr", in.BodyFR, french, maxBody, "BlastErrBodyFR")
	text("cta_label_fr", in.CTALabelFR, false, maxCTALabel, "")
	var countries []string
	for _, c := range in.Countries {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == "" {
			continue
		}
		if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
			errs["countries"] = Problem{ID: "BlastErrCountries"}
			break
		}
		if !slices.Contains(countries, c) {
			countries = append(countries, c)
		}
	}
	slices.Sort(countries)
	in.Countries = countries
	return errs
}

// badTag finds the first tag in s that is not one of knownTags, or whose
// fallback is too long.
func badTag(s string) (Problem, bool) {
	for _, m := range tagPattern.FindAllStringSubmatch(s, -1) {
		if !knownTags[m[1]] {
			return Problem{ID: "BlastErrTag", Args: []any{"Tag", "{" + m[1] + "}"}}, true
		}
		if utf8.RuneCountInString(m[2]) > maxFallback {
			return Problem{ID: "BlastErrFallback", Args: []any{"Max", maxFallback}}, true
		}
	}
	return Problem{}, false
}

// httpURL checks s as an absolute http or https URL with a host, and
// returns it as net/url writes it.
func httpURL(s string) (string, bool) {
	if s == "" || len(s) > maxURL || strings.ContainsAny(s, " \t\r\n<>\"") {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", false
	}
	return u.String(), true
}

// FirstName returns the name to greet a person by, in mails and in
// blasts' {first_name} tag: the first word of their name, or of what
// follows the comma when they wrote it "Doe, John".
func FirstName(name string) string {
	if last, first, ok := strings.Cut(name, ","); ok && strings.TrimSpace(last) != "" && strings.TrimSpace(first) != "" {
		name = first
	}
	name = strings.TrimLeftFunc(name, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || r == ';' })
	if i := strings.IndexFunc(name, unicode.IsSpace); i >= 0 {
		name = name[:i]
	}
	return strings.TrimRight(name, ",;")
}
