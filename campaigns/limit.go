package campaigns

import (
	"hash/maphash"
	"sync"
	"time"
)

// day is the window of the per-address and per-organiser limits.
const day = 24 * time.Hour

// MailsPerDay is how many signing mails (a confirmation link, or "you had
// already signed") one address gets for one cause in any 24 hours, however
// often it signs it; MailsPerAddress is how many it gets for all causes
// together in about a day (see mailLimit), so someone signing several
// causes of a morning gets every link, and an attacker signing every cause
// with someone else's address still fills no inbox.
const (
	MailsPerDay     = 3
	MailsPerAddress = 20
)

// mailLimitKeys bounds how many addresses (and address-cause pairs) a
// mailLimit remembers in each of its two generations: past it, the older
// generation is forgotten early (so forgetting a bombed address early
// takes signing with 131,072 other addresses first). A pair costs about 35
// bytes in Go's map and an address about 20: about 7 MB a generation when
// full, 14 MB for both, which a surge of new addresses fills (at 20,000
// signings a second, in 7 seconds). The limiter is live heap under Go's
// soft memory limit (see cmd/rally's memoryBudget), so it is kept small.
const mailLimitKeys = 1 << 17

// mailLimit counts the signing mails queued for each address, and for each
// address and cause, in memory: for a pair, a sliding window of the times
// of its last MailsPerDay mails over 24 hours; for an address, a count of
// its mails in the current generation and the one before (so between one
// and two days). A restart forgets the counts, which an attacker cannot
// cause, and each process counts its own.
//
// Keys are kept as 64-bit hashes and times as seconds, so an address costs
// the same whatever its length. Keys untouched for a day are dropped a
// generation at a time: every 24 hours the current maps become the old
// ones and the old ones are let go (whatever they still held had not been
// used for a day, so none of their times still counts).
type mailLimit struct {
	seed  maphash.Seed
	mu    sync.Mutex
	base  time.Time // times are whole seconds since base, plus one; 0 is unused
	cur   map[uint64][MailsPerDay]uint32
	old   map[uint64][MailsPerDay]uint32
	curN  map[uint64]uint16 // mails by address
	oldN  map[uint64]uint16
	since time.Time // when cur became the current generation
}

func newMailLimit() *mailLimit {
	return &mailLimit{seed: maphash.MakeSeed(), cur: map[uint64][MailsPerDay]uint32{}, curN: map[uint64]uint16{}}
}

// allow reports whether the signing of cause with the address key at now
// may queue a mail, and if so counts it.
func (l *mailLimit) allow(cause int64, key string, now time.Time) bool {
	ha := maphash.String(l.seed, key)
	h := maphash.Comparable(l.seed, [2]uint64{ha, uint64(cause)})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.base.IsZero() {
		l.base, l.since = now.Add(-day), now
	}
	if since := now.Sub(l.since); since >= day || since < 0 || len(l.cur) >= mailLimitKeys || len(l.curN) >= mailLimitKeys {
		l.old, l.cur, l.since = l.cur, make(map[uint64][MailsPerDay]uint32, len(l.cur)/2), now
		l.oldN, l.curN = l.curN, make(map[uint64]uint16, len(l.curN)/2)
		if since >= 2*day {
			l.old, l.oldN = nil, nil
		}
	}
	if int(l.curN[ha])+int(l.oldN[ha]) >= MailsPerAddress {
		return false
	}
	t := uint32(max(now.Sub(l.base)/time.Second, 0)) + 1
	from := uint32(max((now.Sub(l.base)-day)/time.Second, 0)) + 1 // at or before it is a day ago or more
	times, ok := l.cur[h]
	if !ok {
		if times, ok = l.old[h]; ok {
			delete(l.old, h)
		}
	}
	oldest, recent := 0, 0
	for i, at := range times {
		if at > from && at <= t {
			recent++
		}
		if at < times[oldest] {
			oldest = i
		}
	}
	allowed := recent < MailsPerDay
	if allowed {
		times[oldest] = t
		l.curN[ha]++
	}
	l.cur[h] = times
	return allowed
}

// ImagesPerDay is how many images one organiser may upload in any 24
// hours: enough to try a few pictures for each of several causes, not
// enough to fill a disk 5 MB at a time.
const ImagesPerDay = 20

// uploadLimit counts each organiser's image uploads over the last 24 hours,
// in memory (like mailLimit: a restart forgets, which no organiser can
// cause). Only organisers with a confirmed address upload, so the map
// holds few keys; an organiser's old times go whenever they upload again.
type uploadLimit struct {
	mu    sync.Mutex
	times map[int64][]time.Time // oldest first
}

func newUploadLimit() *uploadLimit { return &uploadLimit{times: map[int64][]time.Time{}} }

// take counts an upload by organiser at now if they have uploaded fewer
// than ImagesPerDay images in the 24 hours before, and reports whether it
// did.
func (l *uploadLimit) take(organiser int64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.times[organiser]
	for len(ts) > 0 && !ts[0].After(now.Add(-day)) {
		ts = ts[1:]
	}
	if len(ts) >= ImagesPerDay {
		l.times[organiser] = ts
		return false
	}
	l.times[organiser] = append(ts, now)
	return true
}

// give takes back the newest upload counted for organiser: one whose image
// was refused and never stored.
func (l *uploadLimit) give(organiser int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts := l.times[organiser]; len(ts) > 0 {
		l.times[organiser] = ts[:len(ts)-1]
	}
}
