// Package placement is the placement record that SDK behaviour is driven by: its
// fields, its validation, and its JSON encoding (a file of records, or one record as
// stored). The store (package store) and the cache (package cache) keep it.
package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
)

// Sentinel errors of the placement lookup; the server maps them to HTTP statuses.
var (
	// ErrNotFound means Redis answered and holds no such placement.
	ErrNotFound = errors.New("placement not found")
	// ErrUnavailable means the placement could not be read (Redis down or slow) and
	// no usable cached copy exists.
	ErrUnavailable = errors.New("placement store unavailable")
	// ErrInvalid means the store holds a record for the placement that is not a
	// valid placement, and no good copy of it is cached: the store is fine, the
	// record is not. Writers are refused such records (Validate), so it takes a
	// writer that bypassed `asap load` or an ASAP older than the record.
	ErrInvalid = errors.New("placement record invalid")
)

// StatusOK is the status of a live placement; any other status pauses it.
const StatusOK = "OK"

// KeyPattern is the syntax of a placement key.
var KeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// upstreamName is the syntax of an upstream name, as config.Upstreams reads it.
var upstreamName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidKey reports whether s is a well-formed placement key: whether KeyPattern
// matches it. It runs on every request, so it checks the bytes itself rather than
// running the regexp (TestValidKeyMatchesKeyPattern holds the two together).
func ValidKey(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Getter finds a placement by key. Implementations return ErrNotFound or
// ErrUnavailable (possibly wrapped) when they cannot return one.
type Getter interface {
	Get(ctx context.Context, pkey string) (*Placement, error)
}

// Placement is the JSON document stored under <prefix>placement:<pkey>.
type Placement struct {
	PKey                  string             `json:"pkey"`
	Status                string             `json:"status"`
	PublisherID           string             `json:"publisherId,omitempty"`
	AdServer              string             `json:"adServer"`
	KeyType               string             `json:"keyType"`
	KeyValue              string             `json:"keyValue"`
	ArticlesBeforeFirstAd int                `json:"articlesBeforeFirstAd"`
	ArticlesBetweenAds    int                `json:"articlesBetweenAds"`
	MediationNetworks     []MediationNetwork `json:"mediationNetworks"`
	Targeting             []TargetingRule    `json:"targeting,omitempty"`
	// Experiments are the arms of the placement's experiment, each answering
	// GET /v2 with its override for its share of users (see Arm); the rest is
	// control, answered from the record itself.
	Experiments []Experiment `json:"experiments,omitempty"`
	Ad          *Ad          `json:"ad,omitempty"`

	// AdProblem, set by DecodeStored, is what makes the ad section of a stored
	// record unusable when the rest of it is valid: GET /v2 still answers from the
	// record, and GET /v2/ad answers 204 for it. Nil when the ad section is valid.
	AdProblem error `json:"-"`
}

// MediationNetwork is one entry of the SDK's mediation waterfall, in order.
type MediationNetwork struct {
	Key              string          `json:"key"`
	Name             string          `json:"name"`
	AndroidClassName string          `json:"androidClassName"`
	IOSClassName     string          `json:"iosClassName"`
	Parameters       json.RawMessage `json:"parameters,omitempty"`
}

// Ad is how GET /v2/ad fetches an ad for the placement.
type Ad struct {
	// Upstream names an upstream of ASAP_UPSTREAMS; never a URL. It is the
	// one-upstream form of Upstreams; a record sets one or the other.
	Upstream string `json:"upstream,omitempty"`
	// Upstreams are the upstreams of a server-side auction, in order: each gets
	// the same bid request at once, and a tie goes to the one listed first.
	Upstreams []Bidder `json:"upstreams,omitempty"`
	// Banner are the banner sizes the impression offers.
	Banner []Size `json:"banner,omitempty"`
	// Native offers a native ad (the Native 1.2 request of package format).
	Native bool `json:"native,omitempty"`
	// Video offers a video ad (VAST); nil offers none.
	Video *Video `json:"video,omitempty"`
	// Interstitial makes the impression full screen (imp.instl = 1): its
	// banner is the screen size the SDK sends, else the Banner sizes; with no
	// other format it offers a full-screen banner.
	Interstitial bool `json:"interstitial,omitempty"`
	// Rewarded marks the impression as rewarding the user (imp.rwdd = 1); with
	// no other format it offers a full-screen banner, as Interstitial does.
	Rewarded bool    `json:"rewarded,omitempty"`
	BidFloor float64 `json:"bidfloor,omitempty"`
	// TmaxMs is the OpenRTB tmax in milliseconds; 0 means ASAP's default.
	TmaxMs  int      `json:"tmaxMs,omitempty"`
	Bcat    []string `json:"bcat,omitempty"`
	Badv    []string `json:"badv,omitempty"`
	HouseAd *HouseAd `json:"houseAd,omitempty"`
}

// Bidder is one upstream of a placement's auction.
type Bidder struct {
	// Name names an upstream of ASAP_UPSTREAMS; never a URL.
	Name string `json:"name"`
	// BidAdjustment multiplies the upstream's bid prices before they compete
	// (a net-of-fees or trust factor). Nil means 1; when set it must be > 0.
	BidAdjustment *float64 `json:"bidAdjustment,omitempty"`
}

// Adjustment returns the bidder's bid adjustment: BidAdjustment, or 1.
func (b Bidder) Adjustment() float64 {
	if b.BidAdjustment == nil {
		return 1
	}
	return *b.BidAdjustment
}

// Bidders returns the upstreams of the placement's auction, in order: Upstreams,
// or the one Upstream with no adjustment.
func (a *Ad) Bidders() []Bidder {
	if len(a.Upstreams) > 0 || a.Upstream == "" {
		return a.Upstreams
	}
	return []Bidder{{Name: a.Upstream}}
}

// Size is a banner size in device-independent pixels.
type Size struct {
	W int `json:"w"`
	H int `json:"h"`
}

// HouseAd is served when the upstream has no ad.
type HouseAd struct {
	Markup string `json:"markup"`
	W      int    `json:"w,omitempty"`
	H      int    `json:"h,omitempty"`
}

// Live reports whether the placement serves ads.
func (p *Placement) Live() bool { return p.Status == StatusOK }

// Validate reports what makes the record unusable, every problem at once: an
// errors.Join of one error per problem, each naming the placement.
func (p *Placement) Validate() error {
	var errs []error
	if !ValidKey(p.PKey) {
		errs = append(errs, fmt.Errorf("pkey %q: want [A-Za-z0-9_-]{1,64}", p.PKey))
	}
	if p.Status == "" {
		errs = append(errs, errors.New("status is empty"))
	}
	if p.ArticlesBeforeFirstAd < 0 || p.ArticlesBetweenAds < 0 {
		errs = append(errs, errors.New("articlesBeforeFirstAd and articlesBetweenAds must not be negative"))
	}
	errs = append(errs, validateNetworks("mediationNetworks", p.MediationNetworks)...)
	errs = append(errs, validateTargeting("targeting", p.Targeting)...)
	errs = append(errs, p.validateExperiments()...)
	if p.Ad != nil {
		errs = append(errs, p.Ad.validateUpstreams()...)
		errs = append(errs, p.Ad.validateFormats()...)
		if p.Ad.BidFloor < 0 || p.Ad.TmaxMs < 0 {
			errs = append(errs, errors.New("ad: bidfloor and tmaxMs must not be negative"))
		}
	}
	// Each problem names the placement, so a joined list of many records' problems
	// reads one line per problem.
	for i, err := range errs {
		errs[i] = fmt.Errorf("placement %q: %w", p.PKey, err)
	}
	return errors.Join(errs...)
}

// validateUpstreams checks the one-upstream form or the auction's list: exactly
// one of them, well-formed names, each once, and adjustments above 0.
func (a *Ad) validateUpstreams() []error {
	var errs []error
	switch {
	case a.Upstream != "" && a.Upstreams != nil:
		return []error{errors.New("ad: upstream and upstreams are both set: use upstream for one upstream, upstreams for an auction")}
	case a.Upstream == "" && len(a.Upstreams) == 0:
		if a.Upstreams != nil {
			return []error{errors.New("ad.upstreams is empty")}
		}
		return []error{errors.New("ad.upstream is empty")}
	case a.Upstream != "":
		if !upstreamName.MatchString(a.Upstream) {
			errs = append(errs, fmt.Errorf("ad.upstream %q: want the name of an upstream of ASAP_UPSTREAMS ([A-Za-z0-9_-]), never a URL", a.Upstream))
		}
		return errs
	}
	seen := make(map[string]int, len(a.Upstreams))
	for i, b := range a.Upstreams {
		switch j, dup := seen[b.Name]; {
		case b.Name == "":
			errs = append(errs, fmt.Errorf("ad.upstreams[%d].name is empty", i))
		case !upstreamName.MatchString(b.Name):
			errs = append(errs, fmt.Errorf("ad.upstreams[%d].name %q: want the name of an upstream of ASAP_UPSTREAMS ([A-Za-z0-9_-]), never a URL", i, b.Name))
		case dup:
			errs = append(errs, fmt.Errorf("ad.upstreams[%d].name %q is already ad.upstreams[%d]: an upstream bids once", i, b.Name, j))
		default:
			seen[b.Name] = i
		}
		// JSON holds no NaN or infinity, but a record built in Go might.
		if adj := b.Adjustment(); !(adj > 0) || math.IsInf(adj, 0) {
			errs = append(errs, fmt.Errorf("ad.upstreams[%d].bidAdjustment %v: want a factor above 0 (1 when left out)", i, adj))
		}
	}
	return errs
}

// validateNetworks reports the problems of a mediation waterfall, each named by
// prefix and index.
func validateNetworks(prefix string, networks []MediationNetwork) []error {
	var errs []error
	for i, n := range networks {
		if !jsonObject(n.Parameters) {
			errs = append(errs, fmt.Errorf("%s[%d].parameters: want a JSON object", prefix, i))
		}
	}
	return errs
}

// jsonObject reports whether raw is absent, null or a JSON object: the SDKs read
// mediation parameters as an object.
func jsonObject(raw json.RawMessage) bool {
	for _, b := range raw {
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return true
		case 'n':
			return string(bytes.TrimSpace(raw)) == "null"
		default:
			return false
		}
	}
	return true
}
