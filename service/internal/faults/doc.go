// Package faults is ASAP's fault suite (issue 7): Go tests that build the asap
// binary and the demo ad server, run them as real processes on 127.0.0.1 with the
// production configuration, a private redis-server and upstreams the tests control,
// inject faults (Redis frozen or killed; upstreams that hang, fail, crawl or break
// HTTP; win notices that hang; overload; SIGTERM under load; slowloris; junk input)
// while goroutine pools drive load, and assert on what the SDKs saw: zero failed
// requests, only the statuses the contract allows, latency budgets, no leaks.
//
// The short form runs with every `go test ./service/...` (reduced rates and
// durations, well under a minute in all). It holds no wall-clock bound: budgets
// (latencies, rates, how soon something happens) are reported, not judged, since
// `make test` runs beside other work; waits wait for their event. The full form
// is `make faults`, which judges every budget:
//
//	go test ./service/internal/faults -run . -faults.full -v -timeout 30m
//
// Each scenario logs its figures (t.Log), which -v prints.
package faults
