package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"asap/service/internal/logtest"
	"asap/service/internal/testwait"
)

func TestRunServesAuctions(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out logtest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-fill", "1", "-latency", "0s", "-jitter", "0s"}, &out, io.Discard)
	}()

	addr := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/openrtb2/auction`)
	var url string
	testwait.For(t, "the listening line", func() bool {
		if m := addr.FindStringSubmatch(out.String()); m != nil {
			url = "http://" + m[1]
		}
		return url != ""
	})
	resp, err := http.Post(url+"/openrtb2/auction", "application/json",
		strings.NewReader(`{"id":"r","imp":[{"id":"1","banner":{"w":300,"h":250}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("auction: got %d; want 200 at -fill 1", resp.StatusCode)
	}
	cancel()
	if err := testwait.Recv(t, "run to return after cancel", done); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(out.String(), "1 auctions, 1 bids") {
		t.Errorf("exit line missing from %q", out.String())
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-fill", "1.5"}, {"-fill", "-0.1"}, {"-latency", "-1s"}, {"-status", "42"}, {"-nope"}, {"-base-url", "ftp://x"}, {"-formats", "html"}, {"-formats", "video,video"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %q: got nil; want an error", args)
		}
	}
}
