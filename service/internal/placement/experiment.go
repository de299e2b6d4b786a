package placement

import (
	"fmt"
	"math"
)

// Experiment is one arm of a placement's experiment: Percent of the users (see
// Arm) get the GET /v2 answer of the record with Override applied, and the answer
// names the arm as "experimentId": ID.
type Experiment struct {
	// ID names the arm in answers and metrics: [A-Za-z0-9_-]{1,64}, unique in the
	// record, and never "control" (the metrics' name for the rest).
	ID string `json:"id"`
	// Percent is the arm's share of users, above 0 and at most 100, in steps of
	// 0.01 (one bucket of Buckets).
	Percent float64 `json:"percent"`
	// Override holds the /v2 fields the arm changes; a field left out keeps the
	// record's.
	Override Override `json:"override"`
}

// Override is the GET /v2 fields an experiment arm changes. Each field, when
// present, replaces the record's; targeting then applies to the result as it does
// to the record (so an arm may bring its own targeting rules). The status, the
// pkey and the ad section are the record's in every arm.
type Override struct {
	AdServer              *string             `json:"adServer,omitempty"`
	KeyType               *string             `json:"keyType,omitempty"`
	KeyValue              *string             `json:"keyValue,omitempty"`
	ArticlesBeforeFirstAd *int                `json:"articlesBeforeFirstAd,omitempty"`
	ArticlesBetweenAds    *int                `json:"articlesBetweenAds,omitempty"`
	MediationNetworks     *[]MediationNetwork `json:"mediationNetworks,omitempty"`
	Targeting             *[]TargetingRule    `json:"targeting,omitempty"`
}

// ControlArm is the name of the users in no arm, in metrics; no arm may take it.
const ControlArm = "control"

// Buckets is how many buckets Bucket spreads users over: one percent is 100.
const Buckets = 10_000

// maxExperiments bounds the arms of a record: each is a few series of metrics.
const maxExperiments = 10

// Bucket returns the bucket, in [0, Buckets), of a user in placement pkey: the
// top 32 bits of the 64-bit FNV-1a hash of the bytes of pkey, ":" and unit,
// multiplied by Buckets and divided by 2³². unit is the request's uid (its
// advertising id, as the SDK sends it), so that a user falls in the same bucket on
// GET /v2 and GET /v2/ad, on every instance, for as long as the placement's
// experiments keep their percentages; without a uid (see NoUID) it is the
// request's mrid, which draws a bucket per request.
func Bucket[U string | []byte](pkey string, unit U) int {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(pkey); i++ {
		h = (h ^ uint64(pkey[i])) * prime
	}
	h = (h ^ ':') * prime
	for i := 0; i < len(unit); i++ {
		h = (h ^ uint64(unit[i])) * prime
	}
	return int((h >> 32) * Buckets >> 32)
}

// NoUID reports whether uid identifies nobody: empty, or the zeroed advertising
// id that iOS and Android report when the user limits ad tracking
// (00000000-0000-0000-0000-000000000000), which would put all those users in
// one bucket. Such a request's arm is drawn from its mrid instead.
func NoUID(uid string) bool {
	for i := 0; i < len(uid); i++ {
		if uid[i] != '0' && uid[i] != '-' {
			return false
		}
	}
	return true
}

// Arm returns the index in p.Experiments of the arm that bucket falls in, or -1
// for control. The arms take consecutive buckets from 0 in the order listed, each
// as many as its percent × 100: with arms of 10 and 5 percent, buckets 0–999 are
// the first, 1000–1499 the second, and the rest control. Raising an arm's percent
// keeps every user it had.
func (p *Placement) Arm(bucket int) int {
	end := 0
	for i := range p.Experiments {
		end += p.Experiments[i].buckets()
		if bucket < end {
			return i
		}
	}
	return -1
}

// buckets returns how many buckets the arm takes.
func (e *Experiment) buckets() int { return int(math.Round(e.Percent * Buckets / 100)) }

// ForArm returns the record as arm i of p.Experiments answers it: a copy of p
// with the arm's override applied and no experiments. Its slices are shared
// with p and the override: read, never modify, them.
func (p *Placement) ForArm(i int) *Placement {
	a := *p
	a.Experiments = nil
	o := &p.Experiments[i].Override
	if o.AdServer != nil {
		a.AdServer = *o.AdServer
	}
	if o.KeyType != nil {
		a.KeyType = *o.KeyType
	}
	if o.KeyValue != nil {
		a.KeyValue = *o.KeyValue
	}
	if o.ArticlesBeforeFirstAd != nil {
		a.ArticlesBeforeFirstAd = *o.ArticlesBeforeFirstAd
	}
	if o.ArticlesBetweenAds != nil {
		a.ArticlesBetweenAds = *o.ArticlesBetweenAds
	}
	if o.MediationNetworks != nil {
		a.MediationNetworks = *o.MediationNetworks
	}
	if o.Targeting != nil {
		a.Targeting = *o.Targeting
	}
	return &a
}

// validateExperiments reports the problems of p.Experiments: ids, percentages
// and their sum, and the override's fields as the record's own are checked.
func (p *Placement) validateExperiments() []error {
	var errs []error
	if len(p.Experiments) > maxExperiments {
		errs = append(errs, fmt.Errorf("experiments: %d arms; at most %d", len(p.Experiments), maxExperiments))
	}
	seen := make(map[string]int, len(p.Experiments))
	total := 0
	for i := range p.Experiments {
		e := &p.Experiments[i]
		name := fmt.Sprintf("experiments[%d]", i)
		switch j, dup := seen[e.ID]; {
		case e.ID == "":
			errs = append(errs, fmt.Errorf("%s.id is empty", name))
		case !ValidKey(e.ID):
			errs = append(errs, fmt.Errorf("%s.id %q: want [A-Za-z0-9_-]{1,64}", name, e.ID))
		case e.ID == ControlArm:
			errs = append(errs, fmt.Errorf("%s.id %q: reserved for the users in no arm", name, e.ID))
		case dup:
			errs = append(errs, fmt.Errorf("%s.id %q is already experiments[%d]", name, e.ID, j))
		default:
			seen[e.ID] = i
		}
		b := e.buckets()
		switch {
		case math.IsNaN(e.Percent) || e.Percent <= 0 || e.Percent > 100:
			errs = append(errs, fmt.Errorf("%s.percent %v: want above 0 and at most 100", name, e.Percent))
		case math.Abs(e.Percent*Buckets/100-float64(b)) > 1e-6:
			errs = append(errs, fmt.Errorf("%s.percent %v: want at most two decimals (steps of 0.01)", name, e.Percent))
		default:
			total += b
		}
		errs = append(errs, e.Override.validate(name+".override")...)
	}
	if total > Buckets {
		errs = append(errs, fmt.Errorf("experiments: the percentages add up to %v; at most 100", float64(total)*100/Buckets))
	}
	return errs
}

// validate checks the override's fields as Validate checks the record's.
func (o *Override) validate(prefix string) []error {
	var errs []error
	if o.ArticlesBeforeFirstAd != nil && *o.ArticlesBeforeFirstAd < 0 {
		errs = append(errs, fmt.Errorf("%s.articlesBeforeFirstAd must not be negative", prefix))
	}
	if o.ArticlesBetweenAds != nil && *o.ArticlesBetweenAds < 0 {
		errs = append(errs, fmt.Errorf("%s.articlesBetweenAds must not be negative", prefix))
	}
	if o.MediationNetworks != nil {
		errs = append(errs, validateNetworks(prefix+".mediationNetworks", *o.MediationNetworks)...)
	}
	if o.Targeting != nil {
		errs = append(errs, validateTargeting(prefix+".targeting", *o.Targeting)...)
	}
	return errs
}
