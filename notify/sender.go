package notify

import (
	"context"
	"errors"

	gomail "github.com/wneessen/go-mail"
)

// Sender delivers messages. Send returns one error per message, in order: nil
// means the message was handed over (to the SMTP relay, or to disk). An
// error is temporary unless IsPermanent says otherwise; a relay error (see
// IsRelayError) is not the message's at all. The worker calls Send with one
// message at a time, from WorkerOptions.Conns goroutines at once.
type Sender interface {
	Send(ctx context.Context, msgs []Message) []error
}

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent marks err as permanent.
func permanent(err error) error { return &permanentError{err: err} }

// What is wrong with the relay, by what an operator would do about it.
const (
	relayUnreachable = "unreachable" // no connection, or it broke before the relay answered
	relayRefused     = "refused"     // it answers, but refuses the sender, the login or TLS: fix the settings
	relayBusy        = "busy"        // it answers that it cannot take mail now (4xx, 421)
)

// relayError is a failure of the relay, or of the way to it, rather than of
// a message: the message was not taken and is not to blame, so it keeps its
// attempts, and the worker waits before it tries the relay again.
type relayError struct {
	kind string
	err  error
}

func (e *relayError) Error() string { return e.err.Error() }
func (e *relayError) Unwrap() error { return e.err }

// IsRelayError reports whether err is the relay's failure rather than the
// message's: the relay cannot be reached, refuses the sender or the login,
// or is busy. Such a message is not counted as tried.
func IsRelayError(err error) bool {
	var re *relayError
	return errors.As(err, &re)
}

// IsPermanent reports whether err means the message can never be delivered
// as it is: a 5xx reply about its recipient or its content, or a message
// that cannot be built. Everything else (4xx replies, refused connections,
// timeouts, TLS or authentication trouble, a refused sender, which an
// operator fixes) is temporary and retried.
func IsPermanent(err error) bool {
	if err == nil || IsRelayError(err) {
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
		switch se.Reason {
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			return true
		case gomail.ErrSMTPMailFrom, gomail.ErrConnCheck:
			// The envelope sender is Rally's, the same for every message.
			return false
		}
		if c := se.ErrorCode(); c >= 500 && c < 600 && !authReply(c) {
			return true
		}
	}
	return false
}
