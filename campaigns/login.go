package campaigns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

type loginForm struct {
	Email    string `form:"email"`
	Password string `form:"password"`
	Next     string `form:"next"`
}

type loginPage struct {
	Email string
	Next  string
	// Error is the catalogue ID of why the login was refused.
	Error string
}

func (a *Accounts) showLogin(c *gin.Context) {
	next := localPath(c.Query("next"))
	if _, ok := CurrentOrganiser(c); ok {
		c.Redirect(http.StatusSeeOther, cmp.Or(next, "/dashboard"))
		return
	}
	a.render(c, http.StatusOK, "login.html", "AccountLoginTitle", loginPage{Next: next})
}

func (a *Accounts) login(c *gin.Context) {
	var f loginForm
	if !bindAccountForm(c, &f) {
		return
	}
	page := loginPage{Email: keepTyped(f.Email), Next: localPath(f.Next)}
	addr, network := throttleKey(f.Email), clientNetwork(c.ClientIP())
	refused, wait := a.guard.check(addr, network, a.store.now())
	if refused {
		page.Error = "AccountErrLoginThrottled"
		a.render(c, http.StatusTooManyRequests, "login.html", "AccountLoginTitle", page)
		return
	}
	if err := a.sleep(c.Request.Context(), wait); err != nil {
		a.fail(c, err)
		return
	}
	o, rehash, ok, err := a.authenticate(c.Request.Context(), f.Email, f.Password)
	if err != nil {
		a.fail(c, err)
		return
	}
	if !ok {
		a.guard.failed(addr, network, a.store.now())
		page.Error = "AccountErrLoginFailed"
		a.render(c, http.StatusUnprocessableEntity, "login.html", "AccountLoginTitle", page)
		return
	}
	a.guard.succeeded(addr, network)
	if err := a.beginSession(c, o.ID, rehash); err != nil {
		a.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, cmp.Or(page.Next, "/dashboard"))
}

// dummyPasswordHash is checked against when no account has the email typed,
// so a failed login takes as long whether or not the account exists.
var dummyPasswordHash = sync.OnceValue(func() string {
	h, err := hashPassword("no account has this password")
	if err != nil {
		panic(err)
	}
	return h
})

// authenticate checks an email and password. When they match it returns the
// organiser, and a new hash of the password when the stored one was made with
// other costs than today's.
func (a *Accounts) authenticate(ctx context.Context, email, password string) (o Organiser, rehash string, ok bool, err error) {
	norm, err := notify.NormalizeEmail(email)
	if err != nil || !utf8.ValidString(password) || len(password) > MaxPasswordBytes {
		return Organiser{}, "", false, nil
	}
	o, hash, err := a.store.organiserCredentials(ctx, notify.EmailKey(norm))
	if errors.Is(err, ErrNotFound) {
		_, _ = checkPassword(dummyPasswordHash(), password)
		return Organiser{}, "", false, nil
	}
	if err != nil {
		return Organiser{}, "", false, err
	}
	ok, rehash, err = verifyPassword(o.ID, hash, password)
	if !ok || err != nil {
		return Organiser{}, "", false, err
	}
	return o, rehash, true, nil
}

// verifyPassword checks password against the organiser's stored hash and,
// when it matches a hash made with other costs than today's, returns a new
// hash to store.
func verifyPassword(organiserID int64, hash, password string) (ok bool, rehash string, err error) {
	if !utf8.ValidString(password) || len(password) > MaxPasswordBytes {
		return false, "", nil
	}
	ok, err = checkPassword(hash, password)
	if err != nil {
		return false, "", fmt.Errorf("check password of organiser %d: %w", organiserID, err)
	}
	if !ok {
		return false, "", nil
	}
	if passwordNeedsRehash(hash) {
		if rehash, err = hashPassword(password); err != nil {
			return false, "", err
		}
	}
	return true, rehash, nil
}

func (a *Accounts) logout(c *gin.Context) {
	if token, err := c.Cookie(SessionCookie); err == nil && validToken(token) {
		if err := a.store.deleteSession(c.Request.Context(), token); err != nil {
			a.fail(c, err)
			return
		}
	}
	a.clearSessionCookie(c)
	templates.SetFlash(c, "FlashLoggedOut")
	c.Redirect(http.StatusSeeOther, "/")
}
