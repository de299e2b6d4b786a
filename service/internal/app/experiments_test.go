package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"asap/service/internal/demoad"
	"asap/service/internal/placement"
	"asap/service/internal/redistest"
)

// experimentFeed is a placement with two experiment arms and an ad section.
const experimentFeed = `[{
	"pkey": "exp-feed", "status": "OK", "adServer": "DFP", "keyType": "creative_key", "keyValue": "ck-1",
	"articlesBeforeFirstAd": 2, "articlesBetweenAds": 5, "mediationNetworks": [],
	"ad": {"upstream": "primary", "banner": [{"w": 300, "h": 250}]},
	"experiments": [
		{"id": "waterfall-b", "percent": 40, "override": {"articlesBetweenAds": 3}},
		{"id": "spacing-c", "percent": 25, "override": {"articlesBeforeFirstAd": 4}}
	]}]`

// TestExperimentsAcrossRoutesAndInstances: two instances on one Redis put every
// uid in the same arm on GET /v2, the arm placement.Bucket gives it, and each
// counts GET /v2 and GET /v2/ad requests, fills and cpm under that arm; a
// placement without experiments gets no series.
func TestExperimentsAcrossRoutesAndInstances(t *testing.T) {
	demo := demoad.New(demoad.Options{Price: 1.25})
	up := httptest.NewServer(demo.Handler())
	defer up.Close()
	_, prefix := redistest.Client(t)
	st := seed(t, redistest.URL(), prefix)
	ps, err := placement.Decode([]byte(experimentFeed))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := st.PutAll(ctx, ps); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"ASAP_REDIS_URL": redistest.URL(), "ASAP_REDIS_KEY_PREFIX": prefix,
		"ASAP_UPSTREAMS": "primary=" + up.URL + "/openrtb2/auction",
	}
	one, two := startApp(t, env), startApp(t, env)

	p := &ps[0]
	want := map[string]int{}
	for i := range 60 {
		uid := fmt.Sprintf("AAID-%04d", i)
		arm := "control"
		if a := p.Arm(placement.Bucket(p.PKey, uid)); a >= 0 {
			arm = p.Experiments[a].ID
		}
		want[arm]++
		for _, in := range []*instance{one, two} {
			got := get(t, in.url+"/v2?pkey=exp-feed&uid="+uid)
			id, _ := got.json["experimentId"].(string)
			if got.code != 200 || id != strings.TrimPrefix(arm, "control") {
				t.Fatalf("uid %s: %d experimentId %q; want 200 and the arm %s\n%s", uid, got.code, id, arm, got.body)
			}
		}
		if a := get(t, one.url+"/v2/ad?pkey=exp-feed&uid="+uid); a.code != http.StatusOK || a.json["creatives"] == nil {
			t.Fatalf("uid %s: GET /v2/ad %d %s; want 200 with the demo ad server's bid", uid, a.code, a.body)
		}
	}
	get(t, one.url+"/v2?pkey=demo-feed&uid=AAID-0000")
	get(t, one.url+"/v2/ad?pkey=demo-feed&uid=AAID-0000")
	for arm, n := range want {
		if n == 0 {
			t.Fatalf("no uid in arm %s: pick more uids", arm)
		}
	}

	for _, in := range []*instance{one, two} {
		metrics := get(t, in.admin+"/metrics").body
		for arm, n := range want {
			lines := []string{fmt.Sprintf(`asap_experiment_requests_total{arm=%q,pkey="exp-feed",route="/v2"} %d`, arm, n)}
			if in == one {
				lines = append(lines,
					fmt.Sprintf(`asap_experiment_requests_total{arm=%q,pkey="exp-feed",route="/v2/ad"} %d`, arm, n),
					fmt.Sprintf(`asap_experiment_fills_total{arm=%q,pkey="exp-feed",route="/v2/ad"} %d`, arm, n),
					fmt.Sprintf(`asap_experiment_cpm_sum{arm=%q,pkey="exp-feed",route="/v2/ad"} %g`, arm, 1.25*float64(n)))
			}
			for _, line := range lines {
				if !strings.Contains(metrics, line+"\n") {
					t.Errorf("/metrics lacks %s", line)
				}
			}
		}
		if strings.Contains(metrics, `pkey="demo-feed"`) {
			t.Errorf("/metrics has experiment series of demo-feed, which has no experiments")
		}
	}
}
