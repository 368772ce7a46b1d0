package templates

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// Fail reports err, an unexpected or store error, and stops the request
// with 500. Handlers of every package report such errors this one way and
// leave the answer to Rally's error pages, which give the status err calls
// for (503 while the database is busy, 404 for something not found, 500
// otherwise), render the page or JSON, and log it once.
func Fail(c *gin.Context, err error) {
	_ = c.Error(err)
	c.AbortWithStatus(http.StatusInternalServerError)
}
