package main

import (
	"net/http"

	"github.com/rallyhq/rally/notify"
)

// handler is what the HTTP server serves: the Gin engine, with HEAD
// answered by the GET routes.
func (a *app) handler() http.Handler { return headAsGet(a.engine) }

// headAsGet lets every GET route answer HEAD. Link checkers and some mail
// scanners ask for the links in a mail (a confirmation, a cancellation)
// with HEAD, and Gin routes HEAD only where a route says so, so they got
// 404. The request goes to the routes as a GET; net/http drops the body of
// a HEAD response (the server's response writer still sees the request as
// HEAD) and keeps the status and headers. A GET route does nothing a HEAD
// should not: none changes anything (mail scanners open links, so a GET
// never confirms).
func headAsGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			// Marked, so a tracked link asked for with HEAD counts as a
			// scanner's, not a person's click.
			get := r.Clone(notify.HeadRequest(r.Context()))
			get.Method = http.MethodGet
			r = get
		}
		h.ServeHTTP(w, r)
	})
}
