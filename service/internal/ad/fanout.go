package ad

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"asap/service/internal/openrtb"
	"asap/service/internal/upstream"
)

// The states of a bidder: its call in flight, its answer taken by the auction,
// or its answer too late for it.
const (
	pending int32 = iota
	arrived
	late
)

// bidder is one upstream's part in an auction. Its goroutine fills the fields
// below state, then moves state from pending to arrived and hands the bidder to
// the auction; once the auction has closed, state is late and only the goroutine
// touches the bidder.
type bidder struct {
	client     *upstream.Client
	adjustment float64
	state      atomic.Int32

	status    int
	err       error
	latency   time.Duration
	answer    *bytes.Buffer
	resp      openrtb.BidResponse
	decodeErr error
	own       []BidFate
	// start and end bound the bidder's bids in auction.fates.
	start, end int
}

// auction sends one bid request to every bidder at once and collects what has
// come back by its deadline.
type auction struct {
	req      *openrtb.BidRequest
	body     *bytes.Buffer // the encoded req, shared read-only by every call
	bidders  []bidder
	deadline time.Time
	// margin is how long after the deadline an answer is still read (and counted
	// late), rather than cut: a cut costs the connection.
	margin time.Duration

	// fates are the bids of every arrived bidder, in the bidders' order; from
	// gives each one's bidder.
	fates []BidFate
	from  []int
	store [8]BidFate
	ints  [8]int
}

// run calls every bidder at once and returns when all have answered, at the
// deadline, or when ctx ends, whichever comes first. Each call outlives run by
// at most the margin, in a goroutine of its own, and is not cancelled when ctx
// ends: the SDK leaving says nothing about the upstreams.
func (a *auction) run(ctx context.Context) {
	arrivals := make(chan *bidder, len(a.bidders))
	base := context.WithoutCancel(ctx)
	for i := range a.bidders {
		go a.call(base, &a.bidders[i], arrivals)
	}
	timer := time.NewTimer(time.Until(a.deadline))
	defer timer.Stop()
	got := 0
wait:
	for got < len(a.bidders) {
		select {
		case <-arrivals:
			got++
		case <-timer.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	// Close the auction: every bidder still pending is late from now on. The
	// others arrived, and those not received yet are on their way.
	for i := range a.bidders {
		a.bidders[i].state.CompareAndSwap(pending, late)
	}
	for n := a.arrived(); got < n; got++ {
		<-arrivals
	}
	a.gather()
}

// arrived returns the number of bidders whose answer the auction took.
func (a *auction) arrived() int {
	n := 0
	for i := range a.bidders {
		if a.bidders[i].state.Load() == arrived {
			n++
		}
	}
	return n
}

// call is one bidder's goroutine: the bid request, the answer decoded and
// judged, then the bidder handed to the auction, or, too late, dropped.
func (a *auction) call(ctx context.Context, b *bidder, arrivals chan<- *bidder) {
	ctx, cancel := context.WithDeadline(ctx, a.deadline.Add(a.margin))
	defer cancel()
	b.answer = responses.Get().(*bytes.Buffer)
	start := time.Now()
	b.status, b.err = b.client.Do(ctx, a.body, b.answer)
	b.latency = time.Since(start)
	if b.err == nil && b.status == http.StatusOK {
		if err := openrtb.DecodeBidResponse(b.answer.Bytes(), &b.resp); err != nil {
			b.decodeErr = err
		} else {
			b.own = judge(a.req, &b.resp, b.adjustment, b.own[:0])
		}
	}
	if b.state.CompareAndSwap(pending, arrived) {
		arrivals <- b
		return
	}
	if b.err == nil {
		b.client.Late()
	}
	recycle(b.answer)
}

// gather puts the bids of every arrived bidder into a.fates.
func (a *auction) gather() {
	a.fates, a.from = a.store[:0], a.ints[:0]
	for i := range a.bidders {
		b := &a.bidders[i]
		b.start = len(a.fates)
		if b.state.Load() == arrived {
			a.fates = append(a.fates, b.own...)
			for range b.own {
				a.from = append(a.from, i)
			}
		}
		b.end = len(a.fates)
	}
}

// release returns the answers' buffers of the arrived bidders to their pool;
// the late ones' goroutines return their own.
func (a *auction) release() {
	for i := range a.bidders {
		if b := &a.bidders[i]; b.state.Load() == arrived {
			recycle(b.answer)
			b.answer = nil
		}
	}
}

func recycle(buf *bytes.Buffer) {
	if buf != nil && buf.Cap() <= 256<<10 {
		buf.Reset()
		responses.Put(buf)
	}
}

// outcome is what the bidder's call came to, as asap_ad_no_fills_total counts it.
func (b *bidder) outcome() string {
	switch {
	case b.state.Load() != arrived:
		return "timeout"
	case errors.Is(b.err, upstream.ErrOpen):
		return "breaker_open"
	case errors.Is(b.err, upstream.ErrTimeout):
		return "timeout"
	case b.err != nil:
		return "error"
	case b.status == http.StatusNoContent:
		return "upstream_204"
	case b.decodeErr != nil:
		return "invalid_response"
	}
	return "no_bid"
}

// noFill is why an auction without a winner has no ad: the outcome every
// bidder shares, else no_bid.
func (a *auction) noFill() string {
	why := a.bidders[0].outcome()
	for i := 1; i < len(a.bidders); i++ {
		if a.bidders[i].outcome() != why {
			return "no_bid"
		}
	}
	return why
}
