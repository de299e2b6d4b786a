package cache

import "github.com/prometheus/client_golang/prometheus"

// metrics are the cache's Prometheus metrics. The hot path uses the pre-resolved
// children, so counting a lookup is one atomic add.
type metrics struct {
	hits, misses, stale, negative prometheus.Counter
	entries, negativeEntries      prometheus.Gauge
	evictions                     prometheus.Counter
	readSeconds                   prometheus.Observer
	readErrors, subscribeErrors   prometheus.Counter
	refreshOK, refreshFailed      prometheus.Counter
	messages, reconnects          prometheus.Counter
	invalidRecord, invalidAd      prometheus.Counter
	lookups                       *prometheus.CounterVec
	collectors                    []prometheus.Collector
}

func newMetrics() *metrics {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "asap_placement_cache_lookups_total",
		Help: "Placement lookups by result: hit (fresh entry), miss (read from Redis), stale (served past its TTL because Redis failed), negative (known unknown pkey).",
	}, []string{"result"})
	entries := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "asap_placement_cache_entries",
		Help: "Entries in the placement cache by kind: placement, or negative (an unknown pkey remembered as unknown).",
	}, []string{"kind"})
	evictions := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "asap_placement_cache_evictions_total",
		Help: "Entries dropped because the cache reached ASAP_CACHE_MAX_ENTRIES.",
	})
	read := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "asap_placement_redis_read_seconds",
		Help:    "Latency of placement reads from Redis (cache misses and refreshes), errors included.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14), // 0.1ms .. 0.8s
	})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "asap_placement_redis_errors_total",
		Help: "Failed Redis operations of the placement cache: read (GET) or subscribe (the pub/sub connection).",
	}, []string{"op"})
	refreshes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "asap_placement_cache_refreshes_total",
		Help: "Background refreshes of cached placements (after the TTL, a pub/sub message or a reconnect) by result.",
	}, []string{"result"})
	messages := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "asap_placement_pubsub_messages_total",
		Help: "Placement change messages received on the pub/sub channel.",
	})
	reconnects := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "asap_placement_pubsub_reconnects_total",
		Help: "Times the pub/sub subscription was lost and made again (every cached entry is then re-read).",
	})
	invalid := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "asap_placement_invalid_records_total",
		Help: "Reads of a placement record that Redis holds but that is not valid, by part: record (unusable: answered PLACEMENT_INVALID unless a good copy is cached) or ad (only its ad section: GET /v2 answers, GET /v2/ad answers 204).",
	}, []string{"part"})
	return &metrics{
		invalidRecord:   invalid.WithLabelValues("record"),
		invalidAd:       invalid.WithLabelValues("ad"),
		hits:            lookups.WithLabelValues("hit"),
		misses:          lookups.WithLabelValues("miss"),
		stale:           lookups.WithLabelValues("stale"),
		negative:        lookups.WithLabelValues("negative"),
		entries:         entries.WithLabelValues("placement"),
		negativeEntries: entries.WithLabelValues("negative"),
		evictions:       evictions,
		readSeconds:     read,
		readErrors:      errs.WithLabelValues("read"),
		subscribeErrors: errs.WithLabelValues("subscribe"),
		refreshOK:       refreshes.WithLabelValues("ok"),
		refreshFailed:   refreshes.WithLabelValues("error"),
		messages:        messages,
		reconnects:      reconnects,
		lookups:         lookups,
		collectors:      []prometheus.Collector{lookups, entries, evictions, read, errs, refreshes, messages, reconnects, invalid},
	}
}
