// Package adquery reads what an SDK sends to GET /v2/ad: the query parameters,
// parsed and validated, and the request facts (User-Agent, client IP) that go
// with them into the bid request.
package adquery

import (
	"fmt"
	"strconv"
	"strings"

	"asap/service/internal/privacy"
	"asap/service/internal/query"
)

// Request is everything one GET /v2/ad brings: the parsed query, the User-Agent
// header and the client IP (from the load balancer's X-Forwarded-For, through the
// server's IP extractor).
type Request struct {
	Query
	UserAgent string
	IP        string
}

// Query is the parsed query of GET /v2/ad. Flags are -1 when absent, else 0 or 1.
type Query struct {
	PKey        string
	UID         string // advertising id (IFA)
	AppID       string // bundle or store id
	AppName     string
	AppVersion  string
	CreativeKey string // echoed from the mediation answer of GET /v2
	CampaignKey string
	W, H        int // slot size in device-independent pixels; 0 when absent
	Make, Model string
	// Signals are the privacy signals (gdpr, gdpr_consent, us_privacy, gpp,
	// gpp_sid, coppa, lmt, atts) and the device's os and osv, as privacy reads
	// them; a flag is -1 when absent.
	privacy.Signals
}

// Bounds of the query parameters.
const (
	maxShort   = 64   // uid, appVersion, os, osv, make, model
	maxName    = 256  // appId, appName
	maxKey     = 128  // creative_key, campaign_key
	maxConsent = 4096 // gdpr_consent, gpp: TCF and GPP strings run to a few kB
	maxPrivacy = 16   // us_privacy: "1YNN"
	maxSize    = 10000
	maxSIDs    = 32
	maxSID     = 255
)

// Parse parses and validates a raw query string (URL.RawQuery). It returns a
// *query.Error naming the first offending parameter (a repeated one follows query.Repeated). Unknown parameters are ignored,
// so SDKs may send more than this version reads; a known parameter given twice is
// an error, because it is ambiguous.
func Parse(raw string) (Query, error) {
	q := Query{Signals: privacy.Signals{GDPR: -1, COPPA: -1, LMT: -1, ATTS: -1}}
	var (
		seen uint32
		vals [len(paramNames)]string // the decoded value of each parameter seen
	)
	for {
		key, v, rest, ok, err := query.Next(raw)
		if !ok {
			break
		}
		if err != nil {
			return Query{}, err
		}
		raw = rest
		i, known := paramIndex[key]
		if !known {
			continue
		}
		val, err := query.UnescapeValue(key, v)
		if err != nil {
			return Query{}, err
		}
		if seen&(1<<i) != 0 {
			if err := query.Repeated(key, vals[i], val); err != nil {
				return Query{}, err
			}
			continue
		}
		seen |= 1 << i
		vals[i] = val
		if err := q.set(key, val); err != nil {
			return Query{}, err
		}
	}
	if q.PKey == "" {
		return Query{}, query.PKey("")
	}
	if (q.W == 0) != (q.H == 0) {
		if q.W == 0 {
			return Query{}, &query.Error{Param: "w", Problem: "required with h"}
		}
		return Query{}, &query.Error{Param: "h", Problem: "required with w"}
	}
	return q, nil
}

// paramNames are the parameters GET /v2/ad reads; paramIndex numbers them.
var paramNames = [...]string{"pkey", "uid", "appId", "appName", "appVersion", "creative_key", "campaign_key",
	"w", "h", "os", "osv", "make", "model", "gdpr", "gdpr_consent", "us_privacy", "gpp", "gpp_sid",
	"coppa", "lmt", "atts"}

var paramIndex = func() map[string]int {
	m := make(map[string]int, len(paramNames))
	for i, n := range paramNames {
		m[n] = i
	}
	return m
}()

func (q *Query) set(key, val string) error {
	var err error
	switch key {
	case "pkey":
		if err := query.PKey(val); err != nil {
			return err
		}
		q.PKey = val
	case "uid":
		q.UID, err = text(key, val, maxShort)
	case "appId":
		q.AppID, err = text(key, val, maxName)
	case "appName":
		q.AppName, err = text(key, val, maxName)
	case "appVersion":
		q.AppVersion, err = text(key, val, maxShort)
	case "creative_key":
		q.CreativeKey, err = text(key, val, maxKey)
	case "campaign_key":
		q.CampaignKey, err = text(key, val, maxKey)
	case "w":
		q.W, err = size(key, val)
	case "h":
		q.H, err = size(key, val)
	case "os":
		q.OS, err = text(key, val, maxShort)
	case "osv":
		q.OSV, err = text(key, val, maxShort)
	case "make":
		q.Make, err = text(key, val, maxShort)
	case "model":
		q.Model, err = text(key, val, maxShort)
	case "gdpr":
		q.GDPR, err = flag(key, val)
	case "gdpr_consent":
		q.GDPRConsent, err = text(key, val, maxConsent)
	case "us_privacy":
		q.USPrivacy, err = text(key, val, maxPrivacy)
	case "gpp":
		q.GPP, err = text(key, val, maxConsent)
	case "gpp_sid":
		q.GPPSID, err = sids(key, val)
	case "coppa":
		q.COPPA, err = flag(key, val)
	case "lmt":
		q.LMT, err = flag(key, val)
	case "atts":
		q.ATTS, err = atts(key, val)
	}
	return err
}

// text accepts UTF-8 without control characters, at most max bytes (the rule
// of query.Text). An empty value is the same as an absent one.
func text(key, val string, max int) (string, error) {
	if err := query.Text(key, val, max); err != nil {
		return "", err
	}
	return val, nil
}

func flag(key, val string) (int8, error) {
	switch val {
	case "0":
		return 0, nil
	case "1":
		return 1, nil
	}
	return 0, &query.Error{Param: key, Problem: "must be 0 or 1"}
}

// atts reads an App Tracking Transparency status, 0 to 3.
func atts(key, val string) (int8, error) {
	if len(val) == 1 && val[0] >= '0' && val[0] <= '3' {
		return int8(val[0] - '0'), nil
	}
	return 0, &query.Error{Param: key, Problem: "want 0, 1, 2 or 3"}
}

func size(key, val string) (int, error) {
	n, err := strconv.Atoi(val)
	if err != nil || n < 1 || n > maxSize || val[0] == '+' {
		return 0, &query.Error{Param: key, Problem: fmt.Sprintf("must be an integer from 1 to %d", maxSize)}
	}
	return n, nil
}

// sids parses gpp_sid: comma-separated GPP section ids.
func sids(key, val string) ([]int, error) {
	if val == "" {
		return nil, nil
	}
	bad := &query.Error{Param: key, Problem: fmt.Sprintf("must be up to %d comma-separated integers from 0 to %d", maxSIDs, maxSID)}
	out := make([]int, 0, strings.Count(val, ",")+1)
	for part := range strings.SplitSeq(val, ",") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || n > maxSID || len(out) == maxSIDs || part[0] == '+' {
			return nil, bad
		}
		out = append(out, n)
	}
	return out, nil
}
