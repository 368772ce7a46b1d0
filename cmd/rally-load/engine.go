package main

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// loadOpts bounds one load run.
type loadOpts struct {
	Duration    time.Duration // the run stops sending after this
	Rate        float64       // requests per second, open loop; 0 = flat out
	Conc        int           // concurrent workers, one connection each
	MaxRequests int64         // hard bound on requests sent
}

// worker holds one worker's tallies; only its own goroutine touches them.
type worker struct {
	rng       *rand.Rand
	ops       map[string]*tally
	signed    []int64 // numbers of the signings that got a success response
	confirmed []int64 // numbers of the signings whose confirmation got one
}

// observe records one finished request of kind op that was due at start.
// kind is empty on success; "canceled" requests (the run was interrupted)
// are not counted at all.
func (w *worker) observe(op string, start time.Time, kind string) {
	if kind == kindCanceled {
		return
	}
	t := w.ops[op]
	if t == nil {
		t = newTally()
		w.ops[op] = t
	}
	t.add(time.Since(start), kind)
}

const kindCanceled = "canceled"

// stepFunc sends one request, due at start, and records it on w. It returns
// false when it has no more work (the confirm scenario's links ran out).
type stepFunc func(ctx context.Context, w *worker, start time.Time) bool

// result is one load run, merged over its workers.
type result struct {
	Elapsed   time.Duration
	Ops       map[string]*tally
	Missed    int64 // open loop: requests due that were never sent in time
	Exhausted bool  // the step ran out of work before the end
	Signed    []int64
	Confirmed []int64
}

// total merges every op's tally.
func (r *result) total() *tally {
	t := newTally()
	for _, o := range r.Ops {
		t.merge(o)
	}
	if r.Missed > 0 {
		t.errs[kindMissed] += r.Missed
	}
	return t
}

const kindMissed = "not sent: behind the fixed rate"

// runLoad drives step with o.Conc workers until o.Duration has passed,
// o.MaxRequests were sent, the step runs out of work or ctx is cancelled.
// Requests in flight at the end finish (each is bounded by the client's
// timeout).
//
// With a rate, arrivals are open loop: request i is due at start + i/rate
// whether or not earlier ones have answered, and its latency counts from
// that due time, so a server that stalls is charged for the requests it
// kept waiting (no coordinated omission).
func runLoad(ctx context.Context, o loadOpts, step stepFunc) *result {
	if o.Conc < 1 {
		o.Conc = 1
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = math.MaxInt64
	}
	start := time.Now()
	deadline := start.Add(o.Duration)
	var (
		sent      atomic.Int64
		budget    atomic.Int64
		exhausted atomic.Bool
		wg        sync.WaitGroup
	)
	// stop is closed when no more requests should start.
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	timer := time.AfterFunc(o.Duration, halt)
	defer timer.Stop()
	go func() {
		select {
		case <-ctx.Done():
			halt()
		case <-stop:
		}
	}()
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	take := func() bool {
		if budget.Add(1) > o.MaxRequests {
			halt()
			return false
		}
		return true
	}

	var due chan time.Time
	var planned int64
	if o.Rate > 0 {
		planned = min(int64(math.Ceil(o.Rate*o.Duration.Seconds())), o.MaxRequests)
		due = make(chan time.Time, o.Conc)
		go schedule(start, o.Rate, planned, due, stop)
	}

	workers := make([]*worker, o.Conc)
	for i := range workers {
		w := &worker{rng: rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i))), ops: map[string]*tally{}}
		workers[i] = w
		wg.Go(func() {
			if due == nil {
				for !stopped() && take() {
					sent.Add(1)
					if !step(ctx, w, time.Now()) {
						exhausted.Store(true)
						halt()
						return
					}
				}
				return
			}
			for t := range due {
				// A request due before the end but picked up after it was
				// never sent in time: it counts as missed, not as a latency.
				if stopped() || !time.Now().Before(deadline) || !take() {
					continue
				}
				sent.Add(1)
				if !step(ctx, w, t) {
					exhausted.Store(true)
					halt()
				}
			}
		})
	}
	wg.Wait()
	halt()

	r := &result{Elapsed: time.Since(start), Ops: map[string]*tally{}, Exhausted: exhausted.Load()}
	for _, w := range workers {
		for op, t := range w.ops {
			if r.Ops[op] == nil {
				r.Ops[op] = newTally()
			}
			r.Ops[op].merge(t)
		}
		r.Signed = append(r.Signed, w.signed...)
		r.Confirmed = append(r.Confirmed, w.confirmed...)
	}
	if due != nil && !r.Exhausted && ctx.Err() == nil {
		r.Missed = max(planned-sent.Load(), 0)
	}
	return r
}

// schedule sends the due times of n requests at rate per second into due,
// then closes it. Due times follow the plan, not the clock: when the
// workers fall behind, the late requests keep their original due time.
func schedule(start time.Time, rate float64, n int64, due chan<- time.Time, stop <-chan struct{}) {
	defer close(due)
	interval := float64(time.Second) / rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := int64(0); i < n; i++ {
		t := start.Add(time.Duration(float64(i) * interval))
		if d := time.Until(t); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-stop:
				return
			}
		}
		select {
		case due <- t:
		case <-stop:
			return
		}
	}
}
