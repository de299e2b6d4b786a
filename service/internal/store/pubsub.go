package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Receive passes every message of ps to handle until ps fails or ctx is done.
// When ps has been idle for ping it PINGs Redis; a PING unanswered for another
// interval is a failure, so a server that hangs or vanished without a reset is
// noticed within 2 × ping. It reports whether the subscription was confirmed.
func Receive(ctx context.Context, ps *redis.PubSub, ping time.Duration, handle func(msg any)) (subscribed bool, err error) {
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, ping)
		if err != nil {
			if ctx.Err() != nil {
				return subscribed, ctx.Err()
			}
			var nerr net.Error
			if !errors.As(err, &nerr) || !nerr.Timeout() {
				return subscribed, err
			}
			if pinged {
				return subscribed, fmt.Errorf("no answer from Redis within %s", 2*ping)
			}
			if err := ps.Ping(ctx); err != nil {
				return subscribed, err
			}
			pinged = true
			continue
		}
		pinged = false
		if m, ok := msg.(*redis.Subscription); ok && m.Kind == "subscribe" {
			subscribed = true
		}
		handle(msg)
	}
}
