package campaigns

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// An image chosen in a cause form that comes back with errors (a title
// left empty, a date in the past) is kept, so the organiser need not
// choose it again: it waits under uploads/pending/{organiser id}/, its
// name in the form's hidden pending_image field, until the form is sent
// without errors and it becomes the cause's (takePending). Only its
// organiser can see it or use it. Images left waiting are removed after
// pendingTTL, when the organiser next uploads.

// pendingTTL is how long a pending image waits for its form.
const pendingTTL = 24 * time.Hour

// pendingDir is the folder of the organiser's pending images.
func (h *Handler) pendingDir(o Organiser) string {
	return filepath.Join(h.cfg.UploadDir, "pending", strconv.FormatInt(o.ID, 10))
}

// hasPending reports whether name is one of the organiser's pending images.
func (h *Handler) hasPending(o Organiser, name string) bool {
	if !uploadName.MatchString(name) {
		return false
	}
	st, err := os.Stat(filepath.Join(h.pendingDir(o), name))
	return err == nil && st.Mode().IsRegular()
}

// takePending moves the organiser's pending image among the uploads, for a
// cause to show.
func (h *Handler) takePending(o Organiser, name string) error {
	if !h.hasPending(o, name) {
		return fmt.Errorf("take pending image %q: %w", name, fs.ErrNotExist)
	}
	if err := os.Rename(filepath.Join(h.pendingDir(o), name), filepath.Join(h.cfg.UploadDir, name)); err != nil {
		return fmt.Errorf("take pending image: %w", err)
	}
	return nil
}

// dropPending removes a pending image the organiser replaced.
func (h *Handler) dropPending(o Organiser, name string) {
	if h.hasPending(o, name) {
		removeImage(h.pendingDir(o), name)
	}
}

// sweepPending removes the organiser's pending images older than
// pendingTTL: forms never sent again.
func (h *Handler) sweepPending(o Organiser) {
	dir := h.pendingDir(o)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			slog.Warn("read pending images", slog.String("dir", dir), slog.Any("error", err))
		}
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && h.store.now().Sub(info.ModTime()) > pendingTTL {
			removeImage(dir, e.Name())
		}
	}
}

// pendingImage shows the signed-in organiser one of their pending images,
// for the form's preview. Anyone else's is not found.
func (h *Handler) pendingImage(c *gin.Context) {
	o, _ := CurrentOrganiser(c)
	name := c.Param("name")
	if !h.hasPending(o, name) {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.File(filepath.Join(h.pendingDir(o), name))
}
