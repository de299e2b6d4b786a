package testwait_test

import (
	"sync/atomic"
	"testing"

	"asap/service/internal/testwait"
)

func TestForWaitsUntilTheConditionHolds(t *testing.T) {
	var calls atomic.Int64
	testwait.For(t, "the third call", func() bool { return calls.Add(1) >= 3 })
	if got := calls.Load(); got != 3 {
		t.Errorf("cond called %d times; want 3 (it stops polling once cond holds)", got)
	}
}

func TestRecvReturnsTheValue(t *testing.T) {
	ch := make(chan int, 1)
	go func() { ch <- 42 }()
	if got := testwait.Recv(t, "the value", ch); got != 42 {
		t.Errorf("Recv = %d; want 42", got)
	}
	close(ch)
	if got := testwait.Recv(t, "the close", ch); got != 0 {
		t.Errorf("Recv on a closed channel = %d; want 0", got)
	}
}
