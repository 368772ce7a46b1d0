// Package static embeds Rally's CSS, JavaScript and images and serves them
// under fingerprinted names, so browsers and CDNs can cache them for a year.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
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
	// byURL maps a fingerprinted path ("css/app.1a2b3c4d.css") to the asset.
	byURL = map[string]*asset{}
)

// asset is one file, with its gzip encoding when that is smaller.
type asset struct {
	contentType string
	raw, gz     []byte
}

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
		a := &asset{contentType: mime.TypeByExtension(ext), raw: b}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(b)
		if zw.Close() == nil && buf.Len() < len(b)*9/10 {
			a.gz = buf.Bytes()
		}
		byURL[hashed] = a
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

// Handler serves fingerprinted assets with a long, immutable cache lifetime,
// gzip-encoded (compressed once, at start) for clients that take it. Mount
// it as GET Prefix+"*file".
func Handler() gin.HandlerFunc {
	return func(c *gin.Context) {
		a, ok := byURL[strings.TrimPrefix(c.Param("file"), "/")]
		if !ok {
			c.AbortWithStatus(http.StatusNotFound)
			return
		}
		h := c.Writer.Header()
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("Content-Type", a.contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Vary", "Accept-Encoding")
		body := a.raw
		if ae := c.GetHeader("Accept-Encoding"); a.gz != nil && strings.Contains(ae, "gzip") && !strings.Contains(ae, "gzip;q=0") {
			body = a.gz
			h.Set("Content-Encoding", "gzip")
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		c.Status(http.StatusOK)
		if c.Request.Method != http.MethodHead {
			_, _ = c.Writer.Write(body)
		}
	}
}
