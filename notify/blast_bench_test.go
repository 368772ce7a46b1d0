package notify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"

	"github.com/rallyhq/rally/templates"
)

// BenchmarkBlast sends a blast to b.N recipients into a local SMTP sink
// (go-smtp, discarding what it receives) with no rate limit, from the
// fan-out through the outbox and the worker over conns connections, and
// beside it the ceiling: plain go-mail clients, one connection each,
// sending b.N messages of the same size into the same sink. It reports
// msgs/s. Run it with a fixed count, e.g.
//
//	go test -run '^$' -bench 'Blast' -benchtime 100000x ./notify
//
// BLAST_BENCH_TRACE=1 logs the progress every two seconds.
func BenchmarkBlast(b *testing.B) {
	const conns = 8
	var size atomic.Int64
	b.Run(fmt.Sprintf("blast/conns=%d", conns), func(b *testing.B) {
		sink, count, bytes := startCountingSink(b)
		w, r := mustOpenDB(b)
		rdr, err := templates.New()
		if err != nil {
			b.Fatal(err)
		}
		aud := &testAudience{cause: Cause{ID: 7, OrganiserID: 3, Slug: "clean-air", Title: "Clean air for Rue des Tilleuls",
			URL: testBase + "/c/clean-air"}}
		for i := range b.N {
			aud.people = append(aud.people, Recipient{ID: int64(i + 1), Email: fmt.Sprintf("person%d@example.org", i), FirstName: "Person", Lang: "en", Country: "FR"})
		}
		quiet := slog.New(slog.DiscardHandler)
		bl := NewBlasts(w, r, rdr, aud, BlastConfig{BaseURL: testBase, Secret: []byte("a bench secret of some length"),
			MailFrom: "Rally <rally@example.org>", DailyCap: 1 << 40, Logger: quiet, Resolver: stubResolver{}})
		s, err := NewSMTPSender("smtp://"+sink+"?tls=none", "Rally <rally@example.org>")
		if err != nil {
			b.Fatal(err)
		}
		wk := NewWorker(w, s, WorkerOptions{Conns: conns, Logger: quiet, Renderer: rdr, Blasts: bl, Reader: r})
		ctx := context.Background()
		in := BlastInput{Subject: "{first_name|Friend}, the council votes on Monday",
			Body: "The council votes on the school streets on **Monday at 18:00**.\n\n" +
				"Write to your councillor before the vote.\n\n- [Read the plan](https://example.org/plan)",
			CTALabel: "Write to my councillor", CTAURL: "https://example.org/write"}
		if errs := in.Validate(); len(errs) > 0 {
			b.Fatal(errs)
		}
		id, err := bl.createBlast(ctx, aud.cause, 3, in)
		if err != nil {
			b.Fatal(err)
		}
		blast, _ := findBlast(ctx, r, id)
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); bl.Run(runCtx) }()
		go func() { defer wg.Done(); _ = wk.Run(runCtx) }()
		b.ResetTimer()
		start := time.Now()
		if err := bl.startBlast(ctx, blast, aud.cause, sender{ID: 3, Name: "Olive", Email: "olive@example.org"}, nil, "UTC", int64(b.N)); err != nil {
			b.Fatal(err)
		}
		last := time.Now()
		for count.Load() < int64(b.N) {
			time.Sleep(time.Millisecond)
			if os.Getenv("BLAST_BENCH_TRACE") != "" && time.Since(last) > 2*time.Second {
				last = time.Now()
				var fanned int64
				_ = r.QueryRow(`SELECT recipients FROM blasts WHERE id = ?`, id).Scan(&fanned)
				sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
				metrics.Read(sample)
				b.Logf("%5.1fs: %d sent, %d delivery rows, live heap %d KiB", time.Since(start).Seconds(), count.Load(), fanned, sample[0].Value.Uint64()>>10)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		b.StopTimer()
		stop()
		wg.Wait()
		size.Store(bytes.Load() / int64(b.N))
	})
	b.Run(fmt.Sprintf("gomail/conns=%d", conns), func(b *testing.B) {
		sink, count, _ := startCountingSink(b)
		host, portStr, _ := net.SplitHostPort(sink)
		port, _ := strconv.Atoi(portStr)
		filler := strings.Repeat("Two thousand children walk to school along the Rue des Tilleuls. ", max(int(size.Load())/2/64, 20))
		next := make(chan int, b.N)
		for i := range b.N {
			next <- i
		}
		close(next)
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := gomail.NewClient(host, gomail.WithPort(port), gomail.WithTLSPolicy(gomail.NoTLS))
				if err == nil {
					err = c.DialWithContext(context.Background())
				}
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				for i := range next {
					m := gomail.NewMsg()
					_ = m.From("Olive via Rally <rally@example.org>")
					_ = m.To(fmt.Sprintf("person%d@example.org", i))
					m.Subject("The council votes on Monday")
					m.SetBodyString(gomail.TypeTextPlain, filler)
					m.AddAlternativeString(gomail.TypeTextHTML, "<p>"+filler+"</p>")
					if err := c.Send(m); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		for count.Load() < int64(b.N) {
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	})
}

// startCountingSink starts an SMTP server that discards what it receives
// and counts the messages and their bytes.
func startCountingSink(b *testing.B) (addr string, count, size *atomic.Int64) {
	count, size = new(atomic.Int64), new(atomic.Int64)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &countingSession{count: count, size: size}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { srv.Close() })
	return l.Addr().String(), count, size
}

type countingSession struct{ count, size *atomic.Int64 }

func (countingSession) Mail(string, *smtp.MailOptions) error { return nil }
func (countingSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *countingSession) Data(r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	s.size.Add(n)
	s.count.Add(1)
	return err
}
func (countingSession) Reset()        {}
func (countingSession) Logout() error { return nil }
