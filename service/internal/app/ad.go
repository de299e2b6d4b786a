package app

import (
	"context"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"asap/service/config"
	"asap/service/internal/ad"
	"asap/service/internal/experiment"
	"asap/service/internal/placement"
	"asap/service/internal/upstream"
)

// newAd builds the ad service behind GET /v2/ad: a pooled client and breaker per upstream of
// ASAP_UPSTREAMS, the win notifier and the ad service. closeAd waits for the
// queued win notices (at most ASAP_NOTICE_TIMEOUT) and closes idle upstream
// connections; call it after the public server has shut down.
func newAd(cfg config.Config, placements placement.Getter, exp *experiment.Metrics, reg prometheus.Registerer, log *slog.Logger) (svc *ad.Service, closeAd func(), err error) {
	ups, err := upstream.NewSet(cfg.Ad, reg)
	if err != nil {
		return nil, nil, err
	}
	notices, err := upstream.NewNotifier(upstream.NotifierOptions{
		Concurrency: cfg.Ad.NoticeConcurrency,
		Queue:       cfg.Ad.NoticeQueue,
		Pipeline:    cfg.Ad.NoticePipeline,
		Timeout:     cfg.Ad.NoticeTimeout,
		// Notice hosts are named by bids: no more trusted than the upstreams.
		MaxHeaderBytes: cfg.Ad.UpstreamMaxHeaderBytes,
	}, reg)
	if err != nil {
		return nil, nil, err
	}
	closeAd = func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Ad.NoticeTimeout)
		defer cancel()
		if err := notices.Close(ctx); err != nil {
			log.Warn("shutdown: win notices still queued were dropped", "err", err)
		}
		ups.CloseIdleConnections()
	}
	svc, err = ad.New(ad.Deps{
		Config: cfg.Ad, Placements: placements, Upstreams: ups, Notifier: notices, Logger: log, Registerer: reg,
		Experiments: exp,
	})
	if err != nil {
		closeAd()
		return nil, nil, err
	}
	if len(cfg.Ad.Upstreams) == 0 {
		log.Warn("ASAP_UPSTREAMS is empty: GET /v2/ad serves only house ads and 204")
	} else {
		names := make([]string, len(cfg.Ad.Upstreams))
		for i, u := range cfg.Ad.Upstreams {
			names[i] = u.Name
		}
		// Names only: a URL may carry credentials.
		log.Info("upstream ad servers", "upstreams", strings.Join(names, ","))
	}
	return svc, closeAd, nil
}
