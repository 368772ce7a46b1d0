package campaigns

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // decoders for image.DecodeConfig
	_ "image/png"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"

	"github.com/gin-gonic/gin"
	"golang.org/x/image/webp"

	"github.com/rallyhq/rally/notify"
)

// MaxImageBytes is the largest cause image accepted.
const MaxImageBytes = 5 << 20

// Image problems, as catalogue ids.
var (
	errImageTooBig  = errors.New("CauseErrImageSize")
	errImageType    = errors.New("CauseErrImageType")
	errImageConfirm = errors.New("CauseErrImageConfirm")
	errImageLimit   = errors.New("CauseErrImageLimit")
	uploadName      = regexp.MustCompile(`^[a-f0-9]{32}\.(jpg|png|webp)$`)
	imageExtensions = map[string]string{"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
)

// saveImage checks an uploaded image by its content (JPEG, PNG or WebP, at
// most 5 MB, a picture that decodes) and stores it under dir with a random
// name, which it returns.
func saveImage(dir string, fh *multipart.FileHeader) (string, error) {
	if fh.Size > MaxImageBytes {
		return "", errImageTooBig
	}
	f, err := fh.Open()
	if err != nil {
		return "", fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxImageBytes+1))
	if err != nil {
		return "", fmt.Errorf("read upload: %w", err)
	}
	if len(data) > MaxImageBytes {
		return "", errImageTooBig
	}
	ext, ok := imageExtensions[http.DetectContentType(data)]
	if !ok {
		return "", errImageType
	}
	var cfg image.Config
	if ext == "webp" {
		cfg, err = webp.DecodeConfig(bytes.NewReader(data))
	} else {
		cfg, _, err = image.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil || cfg.Width < 1 || cfg.Height < 1 || cfg.Width > 10000 || cfg.Height > 10000 {
		return "", errImageType
	}
	tok, _ := NewToken()
	name := notify.HashToken(tok)[:32] + "." + ext
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return "", err
	}
	return name, nil
}

// removeImage deletes an uploaded image's file: one a cause no longer
// shows, or one saved for an edit that was not. A file already gone is
// fine; any other failure is logged, since the edit itself went as it
// should and the file only takes room.
func removeImage(dir, name string) {
	if !uploadName.MatchString(name) {
		return
	}
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		slog.Warn("remove uploaded image", slog.String("name", name), slog.Any("error", err))
	}
}

// upload serves an uploaded image that a cause shows. A public cause's
// image is public and cached for good (its name changes with its content);
// a draft's is seen only by its organiser and admins, and kept by no cache.
// Any other file in the folder (an image no cause shows) is not found.
func (h *Handler) upload(c *gin.Context) {
	name := c.Param("name")
	if !uploadName.MatchString(name) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	v, err := h.store.findImageViewers(c.Request.Context(), name)
	if errors.Is(err, ErrNotFound) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	if !v.Public {
		c.Header("Cache-Control", "private, no-store")
		if o, ok := CurrentOrganiser(c); !ok || (!o.Admin && o.ID != v.OrganiserID) {
			c.AbortWithStatus(http.StatusNotFound)
			return
		}
	} else {
		c.Header("Cache-Control", "public, max-age=31536000, immutable")
	}
	c.File(filepath.Join(h.cfg.UploadDir, name))
}
