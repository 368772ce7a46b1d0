package notify

import (
	"bufio"
	"context"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// DevOutbox is the sender used without RALLY_SMTP_URL: it writes each
// message as an .eml file in a folder (RALLY_DATA/mail), where /dev/mail
// lists it. Files are written under a temporary name and renamed, so a
// reader never sees half a message.
type DevOutbox struct {
	dir  string
	from *mail.Address
	dkim *DKIM
	// Now names the files; tests may replace it.
	Now func() time.Time
}

// emlName matches the files DevOutbox writes: the UTC time it was written,
// to the nanosecond, then the outbox id. Names sort by time.
var emlName = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{9}Z-[0-9]+\.eml$`)

const emlTimeLayout = "20060102T150405.000000000Z"

// NewDevOutbox returns a dev outbox writing into dir, which it creates if
// needed, with from as the From address.
func NewDevOutbox(dir, from string) (*DevOutbox, error) {
	f, err := parseFrom(from)
	if err != nil {
		return nil, fmt.Errorf("dev outbox: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("dev outbox: %w", err)
	}
	return &DevOutbox{dir: dir, from: f, Now: time.Now}, nil
}

// SetDKIM signs every message with d from then on; call it before the
// first Send.
func (d *DevOutbox) SetDKIM(k *DKIM) { d.dkim = k }

// Dir returns the folder the outbox writes to.
func (d *DevOutbox) Dir() string { return d.dir }

// String describes the sender for logs.
func (d *DevOutbox) String() string { return "dev outbox " + d.dir }

// Send writes each message to its own .eml file.
func (d *DevOutbox) Send(ctx context.Context, msgs []Message) []error {
	errs := make([]error, len(msgs))
	wrote := false
	for i, m := range msgs {
		if err := ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("not written: %w", err)
			continue
		}
		errs[i] = d.write(m)
		wrote = wrote || errs[i] == nil
	}
	if wrote {
		// Make the renames durable before the worker records the messages as sent.
		if dir, err := os.Open(d.dir); err == nil {
			_ = dir.Sync()
			_ = dir.Close()
		}
	}
	return errs
}

func (d *DevOutbox) write(m Message) error {
	gm, err := compose(m, d.from, d.dkim)
	if err != nil {
		return err
	}
	name := d.Now().UTC().Format(emlTimeLayout) + "-" + strconv.FormatInt(m.ID, 10) + ".eml"
	tmp, err := os.CreateTemp(d.dir, ".tmp-*.eml")
	if err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	defer func() {
		if tmp != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// go-mail writes a header line at a time: buffered, the file takes a
	// few writes instead of a hundred.
	bw := bufio.NewWriterSize(tmp, 16<<10)
	if _, err := gm.WriteTo(bw); err != nil {
		return fmt.Errorf("dev outbox: write %s: %w", name, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("dev outbox: write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("dev outbox: write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("dev outbox: write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.dir, name)); err != nil {
		return fmt.Errorf("dev outbox: %w", err)
	}
	tmp = nil
	return nil
}
