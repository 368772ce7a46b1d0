package notify

import (
	"context"
	"errors"

	gomail "github.com/wneessen/go-mail"
)

// Sender delivers messages. Send returns one error per message, in order: nil
// means the message was handed over (to the SMTP server, or to disk). An
// error is temporary unless IsPermanent says otherwise. A sender is used by
// one worker at a time.
type Sender interface {
	Send(ctx context.Context, msgs []Message) []error
}

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent marks err as permanent.
func permanent(err error) error { return &permanentError{err: err} }

// IsPermanent reports whether err means the message can never be delivered
// as it is: a 5xx reply from the SMTP server, or a message that cannot be
// built. Everything else (4xx replies, refused connections, timeouts, TLS or
// authentication trouble, which an operator fixes) is temporary and retried.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p *permanentError
	if errors.As(err, &p) {
		return true
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		if se.IsTemp() {
			return false
		}
		if c := se.ErrorCode(); c >= 500 && c < 600 {
			return true
		}
		switch se.Reason {
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			return true
		}
	}
	return false
}
