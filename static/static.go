// Package static embeds Rally's CSS, JavaScript and images and serves them
// under fingerprinted names, so browsers and CDNs can cache them for a year.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed css js img
var files embed.FS

// Prefix is the URL path under which assets are served.
const Prefix = "/static/"

var (
	// byName maps a logical name ("css/app.css") to its fingerprinted URL.
	byName = map[string]string{}
	// byURL maps a fingerprinted path ("css/app.1a2b3c4d.css") back to the file.
	byURL = map[string]string{}
)

func init() {
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		byName[name] = Prefix + hashed
		byURL[hashed] = name
		return nil
	})
	if err != nil {
		panic("static: " + err.Error())
	}
}

// URL returns the fingerprinted URL of the asset with the given logical name,
// such as "css/app.css". An unknown name panics at template execution, which
// tests catch; it is a programming error, never user input.
func URL(name string) string {
	u, ok := byName[name]
	if !ok {
		panic("static: unknown asset " + name)
	}
	return u
}

// FS returns the embedded asset files by logical name.
func FS() fs.FS { return files }

// Handler serves fingerprinted assets with a long, immutable cache lifetime.
// Mount it as GET Prefix+"*file".
func Handler() gin.HandlerFunc {
	server := http.FileServer(http.FS(files))
	return func(c *gin.Context) {
		hashed := strings.TrimPrefix(c.Param("file"), "/")
		name, ok := byURL[hashed]
		if !ok {
			c.AbortWithStatus(http.StatusNotFound)
			return
		}
		c.Header("Cache-Control", "public, max-age=31536000, immutable")
		req := c.Request.Clone(c.Request.Context())
		req.URL.Path = "/" + name
		server.ServeHTTP(c.Writer, req)
	}
}
