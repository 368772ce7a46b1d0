package notify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"
)

// BenchmarkDelivery sends b.N messages into a local SMTP sink (go-smtp,
// discarding what it receives) with no rate limit: from the outbox through
// the worker, and beside it from plain go-mail clients (DialWithContext,
// one Send per message, Close; go-mail's defaults, with NOOP and RSET), with
// the same connections into the same sink. The sink may answer each
// command after a delay, standing for the network between Rally and its
// relay. It reports msgs/s. Run it with a fixed count, e.g.
//
//	go test -run '^$' -bench 'Delivery/rtt=0s' -benchtime 5000x ./notify
//	go test -run '^$' -bench 'Delivery/rtt=10ms' -benchtime 300x ./notify
func BenchmarkDelivery(b *testing.B) {
	for _, rtt := range []time.Duration{0, 10 * time.Millisecond} {
		for _, conns := range []int{1, 8} {
			b.Run(fmt.Sprintf("rtt=%v/worker/conns=%d", rtt, conns), func(b *testing.B) {
				benchWorker(b, startSink(b, rtt), conns)
			})
			b.Run(fmt.Sprintf("rtt=%v/gomail/conns=%d", rtt, conns), func(b *testing.B) {
				benchGoMail(b, startSink(b, rtt), conns)
			})
		}
	}
}

func benchWorker(b *testing.B, addr string, conns int) {
	db, _ := mustOpenDB(b)
	s, err := NewSMTPSender("smtp://"+addr+"?tls=none", "Rally <rally@example.org>")
	if err != nil {
		b.Fatal(err)
	}
	w := NewWorker(db, s, WorkerOptions{Conns: conns, Logger: slog.New(slog.DiscardHandler)})
	msgs := make([]Message, b.N)
	for i := range msgs {
		msgs[i] = testMessage(fmt.Sprintf("bench%d@example.org", i))
	}
	mustEnqueue(b, db, msgs...)
	b.ResetTimer()
	start := time.Now()
	sent := 0
	for {
		n, err := w.DeliverDue(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		sent += n
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.StopTimer()
	s.CloseIdle()
	if sent != b.N {
		b.Fatalf("sent %d of %d", sent, b.N)
	}
}

func benchGoMail(b *testing.B, addr string, conns int) {
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	from, _ := parseFrom("Rally <rally@example.org>")
	next := make(chan int, b.N)
	for i := range b.N {
		next <- i
	}
	close(next)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := gomail.NewClient(host, gomail.WithPort(port), gomail.WithTLSPolicy(gomail.NoTLS))
			if err == nil {
				err = c.DialWithContext(context.Background())
			}
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := range next {
				m, err := compose(testMessage(fmt.Sprintf("bench%d@example.org", i)), from, nil)
				if err == nil {
					err = c.Send(m)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// startSink starts an SMTP server that discards every message and answers
// each command rtt after it came.
func startSink(b *testing.B, rtt time.Duration) string {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return sinkSession{}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(&delayListener{Listener: l, rtt: rtt}) }()
	b.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

type sinkSession struct{}

func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (sinkSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (sinkSession) Reset()        {}
func (sinkSession) Logout() error { return nil }

// delayListener's connections hold the first write after each read (a
// reply to a command, however many lines) for rtt.
type delayListener struct {
	net.Listener
	rtt time.Duration
}

func (l *delayListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || l.rtt == 0 {
		return c, err
	}
	return &delayConn{Conn: c, rtt: l.rtt, replying: true}, nil
}

type delayConn struct {
	net.Conn
	rtt      time.Duration
	replying bool // the next write starts a reply: the greeting, or an answer
}

func (c *delayConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.replying = true
	}
	return n, err
}

func (c *delayConn) Write(p []byte) (int, error) {
	if c.replying {
		c.replying = false
		time.Sleep(c.rtt)
	}
	return c.Conn.Write(p)
}
