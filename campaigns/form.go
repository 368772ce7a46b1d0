package campaigns

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Problem is what is wrong with one form field: a catalogue id, and the
// limit the message names when there is one.
type Problem struct {
	ID  string
	Max int64
}

// FormErrors maps a form field's name to its problem.
type FormErrors map[string]Problem

// Any reports whether there is at least one problem.
func (e FormErrors) Any() bool { return len(e) > 0 }

// Has reports whether field has a problem; templates use it to mark fields.
func (e FormErrors) Has(field string) bool { _, ok := e[field]; return ok }

// checkText validates a one-line plain-text field: valid UTF-8, no control
// characters, between min and max characters once trimmed.
func checkText(errs FormErrors, field, v string, min, max int) {
	switch {
	case !utf8.ValidString(v):
		errs[field] = Problem{ID: "FormErrEncoding"}
	case strings.IndexFunc(v, isControl) >= 0:
		errs[field] = Problem{ID: "FormErrControl"}
	case utf8.RuneCountInString(strings.TrimSpace(v)) < min:
		errs[field] = Problem{ID: "FormErrRequired"}
	case utf8.RuneCountInString(v) > max:
		errs[field] = Problem{ID: "FormErrTooLong", Max: int64(max)}
	}
}

// checkMultiline validates a multi-line plain-text field (newlines and tabs
// allowed), at most max characters.
func checkMultiline(errs FormErrors, field, v string, max int) {
	switch {
	case !utf8.ValidString(v):
		errs[field] = Problem{ID: "FormErrEncoding"}
	case strings.IndexFunc(v, func(r rune) bool { return isControl(r) && r != '\n' && r != '\r' && r != '\t' }) >= 0:
		errs[field] = Problem{ID: "FormErrControl"}
	case utf8.RuneCountInString(v) > max:
		errs[field] = Problem{ID: "FormErrTooLong", Max: int64(max)}
	}
}

func isControl(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }
