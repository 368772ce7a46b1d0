package templates

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// FlashCookie carries a one-time notice ("Saved", "Published") from the
// handler that redirects to the page that shows it. It holds a message id,
// never text: nothing a visitor sends is shown by it.
const FlashCookie = "flash"

// secureKey is where LanguageMiddleware notes whether cookies must be
// Secure, for SetFlash.
const secureKey = "rally.secure"

// SetFlash asks the next page the browser opens, the one a redirect leads
// to, to show the message id once, as a notice. The id must start with
// "Flash" and be in the catalogues. It works without JavaScript.
func SetFlash(c *gin.Context, id string) {
	http.SetCookie(c.Writer, &http.Cookie{Name: FlashCookie, Value: id, Path: "/", MaxAge: 300,
		HttpOnly: true, Secure: c.GetBool(secureKey), SameSite: http.SameSiteLaxMode})
}

// HasFlash reports whether the request carries a notice to show: a page
// that shows it is this person's alone, so handlers that serve shared,
// cached pages render it for them instead.
func HasFlash(c *gin.Context) bool {
	v, err := c.Cookie(FlashCookie)
	return err == nil && validFlash(v)
}

func validFlash(id string) bool {
	return strings.HasPrefix(id, "Flash") && len(id) <= 64 && strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0
}

// takeFlash returns the notice the request carries, if it is a message of
// the catalogue, and clears the cookie so it shows once.
func takeFlash(c *gin.Context, cat *Catalogue, lang string) string {
	id, err := c.Cookie(FlashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: FlashCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.GetBool(secureKey), SameSite: http.SameSiteLaxMode})
	if !validFlash(id) || cat.T(lang, id) == id {
		return ""
	}
	return id
}
