package exchange

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"asap/service/internal/bufpool"
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
	req        *openrtb.BidRequest // the request it is sent (its Variant's)
	key        string              // its variant's key
	body       *body               // req encoded, shared read-only with the bidders of the same key
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

// body is a bid request's encoding in a pooled buffer, shared by the bidders sent
// the same request: the last of their calls to be done with it (Client.Do keeps
// no reference once it returns) gives the buffer back to the pool. A late
// upstream's call may end after the auction, so the count, not the auction,
// decides when.
type body struct {
	buf  *bytes.Buffer
	refs atomic.Int32
}

func (b *body) release() {
	if b.refs.Add(-1) == 0 {
		bufpool.Put(b.buf)
	}
}

// fanOut calls every bidder at once and returns when all have answered, at the
// deadline, or when ctx ends, whichever comes first. Each call outlives run by
// at most the margin, in a goroutine of its own, and is not cancelled when ctx
// ends: the SDK leaving says nothing about the upstreams.
func (a *Auction) fanOut(ctx context.Context) {
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
func (a *Auction) arrived() int {
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
func (a *Auction) call(ctx context.Context, b *bidder, arrivals chan<- *bidder) {
	ctx, cancel := context.WithDeadline(ctx, a.deadline.Add(a.Margin))
	defer cancel()
	b.answer = bufpool.Get()
	start := time.Now()
	b.status, b.err = b.client.Do(ctx, a.Start, b.body.buf, b.answer)
	b.body.release()
	b.latency = time.Since(start)
	if b.err == nil && b.status == http.StatusOK {
		if err := openrtb.DecodeBidResponse(b.answer.Bytes(), &b.resp); err != nil {
			b.decodeErr = err
		} else {
			b.own = judge(a.Request, &b.resp, b.adjustment, b.own[:0])
		}
	}
	if b.state.CompareAndSwap(pending, arrived) {
		arrivals <- b
		return
	}
	if b.err == nil {
		b.client.Late()
	}
	bufpool.Put(b.answer)
}

// gather puts the bids of every arrived bidder into a.fates.
func (a *Auction) gather() {
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

// Release returns the answers' buffers of the arrived bidders to their pool
// (the late ones' goroutines return their own). The Auction's bids are not to be
// read afterwards.
func (a *Auction) Release() {
	for i := range a.bidders {
		if b := &a.bidders[i]; b.state.Load() == arrived {
			bufpool.Put(b.answer)
			b.answer = nil
		}
	}
}

// outcome is what the bidder's call came to, as asap_ad_no_fills_total counts it.
func (b *bidder) outcome() NoFill {
	switch {
	case b.state.Load() != arrived:
		return Timeout
	case errors.Is(b.err, upstream.ErrOpen):
		return BreakerOpen
	case errors.Is(b.err, upstream.ErrTimeout):
		return Timeout
	case b.err != nil:
		return Failed
	case b.status == http.StatusNoContent:
		return Upstream204
	case b.decodeErr != nil:
		return InvalidResponse
	}
	return NoBid
}

// noFill is why an auction without a winner has no ad: the outcome every
// bidder shares, else NoBid.
func (a *Auction) noFill() NoFill {
	why := a.bidders[0].outcome()
	for i := 1; i < len(a.bidders); i++ {
		if a.bidders[i].outcome() != why {
			return NoBid
		}
	}
	return why
}
