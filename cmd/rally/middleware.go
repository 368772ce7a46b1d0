package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/cmd/rally/database"
	"github.com/rallyhq/rally/donations"
	"github.com/rallyhq/rally/templates"
)

// errorPage describes the page shown for an HTTP status.
type errorPage struct {
	Status  int
	Heading string
	Message string
}

var errorPages = map[int]errorPage{
	http.StatusBadRequest:            {http.StatusBadRequest, "ErrorBadRequestHeading", "ErrorBadRequest"},
	http.StatusForbidden:             {http.StatusForbidden, "ErrorForbiddenHeading", "ErrorForbidden"},
	http.StatusNotFound:              {http.StatusNotFound, "ErrorNotFoundHeading", "ErrorNotFound"},
	http.StatusGone:                  {http.StatusGone, "ErrorNotFoundHeading", "ErrorNotFound"},
	http.StatusMethodNotAllowed:      {http.StatusMethodNotAllowed, "ErrorMethodHeading", "ErrorMethod"},
	http.StatusRequestEntityTooLarge: {http.StatusRequestEntityTooLarge, "ErrorTooLargeHeading", "ErrorTooLarge"},
	http.StatusTooManyRequests:       {http.StatusTooManyRequests, "ErrorTooManyHeading", "ErrorTooMany"},
	http.StatusServiceUnavailable:    {http.StatusServiceUnavailable, "ErrorBusyHeading", "ErrorBusy"},
	http.StatusInternalServerError:   {http.StatusInternalServerError, "ErrorServerHeading", "ErrorServer"},
}

// errorPagesMiddleware is where every error becomes what the person sees.
// A handler that reports an error with templates.Fail and writes nothing
// gets the status the error calls for (errorStatus); any response a
// handler stopped with a status of 400 or more but no body gets its error
// page, or JSON on the JSON routes. Errors are logged here, once, unless
// the status says they were expected (4xx) or the client has gone.
func errorPagesMiddleware(rdr *templates.Renderer) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Writer = &holdErrors{c.Writer}
		c.Next()
		status := c.Writer.Status()
		if last := c.Errors.Last(); last != nil && !c.Writer.Written() && (status < 400 || status >= 500) {
			status = errorStatus(last.Err)
			if status == 0 {
				return
			}
			if status == http.StatusServiceUnavailable {
				c.Header("Retry-After", "2")
			}
			c.Status(status)
		}
		for _, e := range c.Errors {
			// After the answer started (an export cut short) the error is
			// still unexpected, though its status says 200.
			if errors.Is(e.Err, context.Canceled) || (status >= 400 && status < 500) {
				continue
			}
			slog.Error("request failed", slog.String("method", c.Request.Method),
				slog.String("path", c.Request.URL.Path), slog.Int("status", status), slog.Any("error", e.Err))
		}
		if status < 400 || c.Writer.Written() {
			return
		}
		renderError(c, rdr, status)
	}
}

// errorStatus is the status that answers err, an error a handler reported:
// 503 for a moment's trouble that trying again shortly may get past (the
// database busy, a deadline passed, the writer shutting down), 404 for
// something that does not exist, 500 for anything else. It is 0 when the
// client has gone: nobody is left to answer.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, context.Canceled):
		return 0
	case database.Busy(err), errors.Is(err, context.DeadlineExceeded), errors.Is(err, campaigns.ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, campaigns.ErrNotFound), errors.Is(err, donations.ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// holdErrors keeps gin's AbortWithStatus from sending an error status with an
// empty body, so that errorPagesMiddleware can still render the page.
type holdErrors struct{ gin.ResponseWriter }

// Unwrap lets http.ResponseController reach the connection (the CSV export
// moves its write deadline).
func (w *holdErrors) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *holdErrors) WriteHeaderNow() {
	if w.Status() >= 400 {
		return
	}
	w.ResponseWriter.WriteHeaderNow()
}

func renderError(c *gin.Context, rdr *templates.Renderer, status int) {
	p, ok := errorPages[status]
	if !ok {
		p = errorPages[http.StatusBadRequest]
		if status >= 500 {
			p = errorPages[http.StatusInternalServerError]
		}
		p.Status = status
	}
	if wantsJSON(c.Request) {
		c.JSON(status, gin.H{"error": strings.ToLower(http.StatusText(status))})
		return
	}
	c.Header("Cache-Control", "no-store")
	rdr.HTML(c, status, "errors/error.html", &templates.Page{Title: rdr.Catalogue.T(templates.LangOf(c), p.Heading), NoIndex: true, Data: p})
}

func wantsJSON(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, ".json") || strings.HasPrefix(r.URL.Path, "/webhooks/") ||
		strings.HasPrefix(r.URL.Path, "/api/")
}

// recovery turns a panic into the 500 page, logging it once.
func recovery() gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, err any) {
		if e, ok := err.(error); ok && errors.Is(e, http.ErrAbortHandler) {
			panic(err)
		}
		slog.Error("panic", slog.String("path", c.Request.URL.Path), slog.Any("error", err))
		c.AbortWithStatus(http.StatusInternalServerError)
	})
}

// requestLog logs every request at debug level. At tens of thousands of
// requests a second a line per request at info would cost more than the
// request; errors are logged once where they are known (errorPagesMiddleware,
// recovery), not again here.
func requestLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !slog.Default().Enabled(c.Request.Context(), slog.LevelDebug) {
			c.Next()
			return
		}
		start := time.Now()
		c.Next()
		slog.Debug("request", slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path),
			slog.Int("status", c.Writer.Status()), slog.Duration("took", time.Since(start)), slog.String("ip", c.ClientIP()))
	}
}

// securityHeaders sets headers every response carries. Pages may be framed
// only where a route says so (the embeddable widget).
func securityHeaders() gin.HandlerFunc {
	// Canonical keys and values built once; handlers that change a header
	// replace its slice, never write into it.
	headers := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "strict-origin-when-cross-origin",
		"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
			"object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self' https://checkout.stripe.com",
		"X-Frame-Options": "DENY",
	}
	values := map[string][]string{}
	for k, v := range headers {
		values[http.CanonicalHeaderKey(k)] = []string{v}
	}
	return func(c *gin.Context) {
		h := c.Writer.Header()
		for k, v := range values {
			h[k] = v
		}
		c.Next()
	}
}

// crossOrigin refuses cross-origin unsafe requests with 403, using Go's
// http.CrossOriginProtection, except on the routes that take posts from other
// origins by design: signing, Stripe's webhook and one-click unsubscribe.
// It runs before any login check, so a forged post never reaches a redirect.
func crossOrigin() gin.HandlerFunc {
	cop := http.NewCrossOriginProtection()
	for _, p := range []string{"POST /c/{slug}/sign", "POST /webhooks/stripe", "POST /u/{token}", "POST /c/{slug}/embed/sign"} {
		cop.AddInsecureBypassPattern(p)
	}
	return func(c *gin.Context) {
		if err := cop.Check(c.Request); err != nil {
			c.AbortWithStatus(http.StatusForbidden)
			return
		}
		c.Next()
	}
}

// limitBody caps request bodies: small for forms, larger under the given
// path prefixes (a cause's image upload, Stripe's events). A declared length over the cap is refused at once; a
// body that grows past it fails to parse and the handler answers 413.
func limitBody(small int64, larger map[string]int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Body == nil || c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
			c.Next()
			return
		}
		limit := small
		for prefix, l := range larger {
			if strings.HasPrefix(c.Request.URL.Path, prefix) {
				limit = l
			}
		}
		if c.Request.ContentLength > limit {
			c.AbortWithStatus(http.StatusRequestEntityTooLarge)
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		c.Next()
	}
}
