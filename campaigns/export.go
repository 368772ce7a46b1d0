package campaigns

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/templates"
)

// exportChunk is how many rows one query of the export reads. Reading in
// chunks keeps no read transaction open for the whole download, so the WAL
// can be checkpointed while a million rows stream out.
const exportChunk = 5000

// ExportRow is one confirmed signature in the CSV export.
type ExportRow struct {
	ID          int64
	Name        string
	Email       string
	Country     string
	Postcode    string
	Comment     string
	SignedAt    time.Time
	ConfirmedAt time.Time
	Updates     bool
}

// ExportConfirmed calls fn for each confirmed signature of a cause, in the
// order they were confirmed, reading exportChunk rows per query. Each query
// seeks in the (cause, confirmed_at) index from where the last one ended, so
// a million rows cost a million index steps, not a sort per chunk.
func (s *Store) ExportConfirmed(ctx context.Context, causeID int64, fn func(ExportRow) error) error {
	var afterTime time.Time
	var afterID int64
	for {
		rows, err := s.r.QueryContext(ctx, `SELECT s.id, s.name, s.email, s.country, s.postcode, s.comment,
			s.created_at, s.confirmed_at, s.consent_updates
			FROM signatures s
			WHERE s.cause_id = ? AND s.confirmed_at IS NOT NULL AND (s.confirmed_at, s.id) > (?, ?)
			ORDER BY s.confirmed_at, s.id LIMIT ?`, causeID, afterTime.UTC(), afterID, exportChunk)
		if err != nil {
			return fmt.Errorf("export signatures: %w", err)
		}
		chunk := make([]ExportRow, 0, exportChunk)
		for rows.Next() {
			var r ExportRow
			if err := rows.Scan(&r.ID, &r.Name, &r.Email, &r.Country, &r.Postcode, &r.Comment, &r.SignedAt, &r.ConfirmedAt, &r.Updates); err != nil {
				rows.Close()
				return fmt.Errorf("export signatures: %w", err)
			}
			chunk = append(chunk, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("export signatures: %w", err)
		}
		for _, r := range chunk {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(chunk) < exportChunk {
			return nil
		}
		last := chunk[len(chunk)-1]
		afterTime, afterID = last.ConfirmedAt, last.ID
	}
}

func (h *Handler) exportCSV(c *gin.Context) {
	cz, _, ok := h.ownCause(c)
	if !ok {
		return
	}
	name := fmt.Sprintf("%s-signatures-%s.csv", cz.Slug, h.store.now().Format("2006-01-02"))
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "private, no-store")
	c.Status(http.StatusOK)
	// The server's write timeout is shorter than a million-row download:
	// push the deadline forward as rows go out.
	rc := http.NewResponseController(c.Writer)
	extend := func() { _ = rc.SetWriteDeadline(time.Now().Add(time.Minute)) }
	extend()
	w := csv.NewWriter(c.Writer)
	// A byte-order mark lets spreadsheet programs read accents as UTF-8.
	_, _ = c.Writer.WriteString("\ufeff")
	_ = w.Write([]string{"name", "email", "country", "postcode", "comment", "signed_at", "confirmed_at", "consented_to_updates"})
	n := 0
	err := h.store.ExportConfirmed(c.Request.Context(), cz.ID, func(r ExportRow) error {
		updates := "no"
		if r.Updates {
			updates = "yes"
		}
		if err := w.Write([]string{templates.CSVCell(r.Name), templates.CSVCell(r.Email), r.Country, templates.CSVCell(r.Postcode),
			templates.CSVCell(strings.ReplaceAll(r.Comment, "\r\n", "\n")), r.SignedAt.UTC().Format(time.RFC3339),
			r.ConfirmedAt.UTC().Format(time.RFC3339), updates}); err != nil {
			return err
		}
		if n++; n%exportChunk == 0 {
			w.Flush()
			extend()
		}
		return nil
	})
	w.Flush()
	if err != nil {
		// Headers are gone; all that can be done is to stop and log.
		_ = c.Error(err)
	}
}
