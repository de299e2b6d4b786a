// Package privacy decides, for each upstream of one request, what the user's
// privacy signals allow: whether the upstream is called at all, and whether its
// request keeps the identifiers and the precise location. It is the one place
// the rules live (docs/privacy.md has them as a table):
//
//   - GDPR (gdpr=1, or no gdpr and the configured default): with the TCF v2
//     string (gdpr_consent, or the tcfeuv2 section of gpp when gpp_sid lists 2)
//     and the publisher restrictions it carries, for the upstream's Global Vendor
//     List id: purpose 2 without a legal basis blocks the upstream; purpose 4
//     without one removes the identifiers; special feature 1 without the opt-in
//     coarsens the location. No vendor id, or no usable string, is no consent.
//   - US: us_privacy opting out of sale, or a US section of gpp that gpp_sid lists
//     with a sale, sharing or targeted-advertising opt-out, removes the
//     identifiers; a known child's data consent other than 0 is COPPA.
//   - coppa=1 and lmt=1 remove the identifiers and coarsen the location; so does
//     an App Tracking Transparency status other than authorized on iOS 14+, which
//     also sets device.lmt.
//
// Decisions are pure functions of the signals and the vendor id; decoded strings
// are kept in a bounded cache, since an app's users send the same few strings.
package privacy

import (
	"slices"
	"strconv"
	"strings"

	"asap/service/internal/consent"
)

// Signals are one request's privacy signals as the SDK sent them. A flag is -1
// when absent.
type Signals struct {
	GDPR        int8
	GDPRConsent string
	USPrivacy   string
	GPP         string
	GPPSID      []int
	COPPA       int8
	LMT         int8
	// ATTS is the App Tracking Transparency status: 0 not determined, 1
	// restricted, 2 denied, 3 authorized; -1 absent.
	ATTS int8
	// OS and OSV are the device's operating system and its version.
	OS, OSV string
}

// Reason is a set of the rules that applied, for the trace.
type Reason uint32

// The reasons a decision can carry.
const (
	NoTCString        Reason = 1 << iota // GDPR applies and no usable TC string came
	NoVendorID                           // GDPR applies and the upstream has no vendor id
	NoPurpose2                           // no legal basis for purpose 2 (basic ads)
	NoPurpose4                           // no legal basis for purpose 4 (personalised ads)
	NoSpecialFeature1                    // no opt-in to special feature 1 (precise geolocation)
	USPrivacyOptOut                      // us_privacy opted out of sale
	USPrivacyUnusable                    // us_privacy present but not a US Privacy string
	GPPOptOut                            // a listed GPP US section opted out of sale, sharing or targeted ads
	GPPUnusable                          // gpp_sid lists a US section the gpp string does not readably carry
	GPPChild                             // a listed GPP US section has a known child's data consent
	COPPA                                // coppa=1
	LMT                                  // lmt=1
	ATT                                  // App Tracking Transparency not authorized on iOS 14+
)

var reasonNames = [...]string{
	"gdpr: no usable TC string",
	"gdpr: upstream has no vendor id",
	"tcf purpose 2: no consent or legitimate interest",
	"tcf purpose 4: no consent",
	"tcf special feature 1: no opt-in",
	"us_privacy: opted out of sale",
	"us_privacy: unreadable",
	"gpp: US opt-out",
	"gpp: listed US section unreadable",
	"gpp: known child",
	"coppa=1",
	"lmt=1",
	"att: not authorized on iOS 14+",
}

// Names lists the reasons in the set.
func (r Reason) Names() []string {
	var out []string
	for i, n := range reasonNames {
		if r&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// String joins the names with "; ".
func (r Reason) String() string { return strings.Join(r.Names(), "; ") }

// Decision is what one upstream may receive for one request.
type Decision struct {
	// Blocked: the upstream is not called.
	Blocked bool `json:"blocked"`
	// RemoveIDs: device.ifa, user.id, user.buyeruid, user.eids and user.data are removed.
	RemoveIDs bool `json:"ids_removed"`
	// CoarsenGeo: device.geo's latitude and longitude are rounded to two decimals
	// and the IP truncated (IPv4 to /24, IPv6 to /48).
	CoarsenGeo bool `json:"geo_coarsened"`
	// Why are the rules that applied.
	Why Reason `json:"-"`
}

// Evaluation is a request's signals read once; For decides per upstream.
type Evaluation struct {
	gdpr bool
	tcf  *consent.TCF // nil when GDPR applies without a usable string, or does not apply
	// The request-wide part of every decision (US, COPPA, LMT, ATT).
	removeIDs, coarsen bool
	why                Reason
	// SetLMT: the ATT rule applied, so device.lmt is 1.
	SetLMT bool
}

// GDPR reports whether GDPR applies to the request.
func (e *Evaluation) GDPR() bool { return e.gdpr }

// Decider evaluates requests with the deployment's GDPR default and a cache of
// decoded strings. It is safe for concurrent use.
type Decider struct {
	gdprDefault bool
	tcf         *memo[consent.TCF]
	gpp         *memo[consent.GPP]
}

// NewDecider returns a Decider. gdprDefault says whether GDPR applies to a request
// that sends no gdpr flag; cacheBytes bounds the cache of decoded strings (0: no cache).
func NewDecider(gdprDefault bool, cacheBytes int) *Decider {
	return &Decider{
		gdprDefault: gdprDefault,
		tcf:         newMemo(cacheBytes/2, consent.DecodeTCF, tcfCost),
		gpp:         newMemo(cacheBytes/2, consent.DecodeGPP, gppCost),
	}
}

// Evaluate reads the request's signals.
func (d *Decider) Evaluate(s *Signals) Evaluation {
	var e Evaluation
	e.gdpr = s.GDPR == 1 || s.GDPR == -1 && d.gdprDefault

	var g *consent.GPP
	var gppErr error
	if s.GPP != "" && len(s.GPPSID) > 0 {
		g, gppErr = d.gpp.get(s.GPP)
	}
	if e.gdpr {
		switch {
		case s.GDPRConsent != "":
			e.tcf, _ = d.tcf.get(s.GDPRConsent)
		case g != nil && slices.Contains(s.GPPSID, consent.SectionTCFEUv2):
			e.tcf = g.TCFEUv2
		}
		if e.tcf == nil {
			e.why |= NoTCString
		}
	}

	if s.USPrivacy != "" {
		if u, err := consent.DecodeUSPrivacy(s.USPrivacy); err != nil {
			e.why |= USPrivacyUnusable
		} else if u.OptedOutOfSale() {
			e.why |= USPrivacyOptOut
		}
	}
	for _, id := range s.GPPSID {
		if id < consent.SectionUSPv1 || id > consent.SectionUSCT {
			continue
		}
		e.why |= gppSection(g, gppErr, id)
	}

	if s.COPPA == 1 {
		e.why |= COPPA
	}
	if s.LMT == 1 {
		e.why |= LMT
	}
	if s.ATTS >= 0 && s.ATTS != 3 && iOS14(s.OS, s.OSV) {
		e.why |= ATT
		e.SetLMT = true
	}
	e.removeIDs = e.why&(USPrivacyOptOut|USPrivacyUnusable|GPPOptOut|GPPUnusable|GPPChild|COPPA|LMT|ATT) != 0
	e.coarsen = e.why&(GPPChild|COPPA|LMT|ATT) != 0
	return e
}

// gppSection reads the US section id (6 to 12) that gpp_sid lists.
func gppSection(g *consent.GPP, err error, id int) Reason {
	if err != nil || g == nil {
		return GPPUnusable
	}
	if id == consent.SectionUSPv1 {
		switch {
		case g.USPv1 == nil:
			return GPPUnusable
		case g.USPv1.OptedOutOfSale():
			return GPPOptOut
		}
		return 0
	}
	us, ok := g.Section(id)
	if !ok {
		return GPPUnusable
	}
	var r Reason
	if us.SaleOptOut == 1 || us.SharingOptOut == 1 || us.TargetedAdvertisingOptOut == 1 {
		r |= GPPOptOut
	}
	for _, c := range us.KnownChildSensitiveDataConsents {
		if c != 0 {
			r |= GPPChild
		}
	}
	return r
}

// iOS14 reports whether the device runs iOS (or iPadOS) 14 or later. A missing
// or unreadable version counts as 14 or later: ATT, and so atts, exists only there.
func iOS14(os, osv string) bool {
	if !strings.EqualFold(os, "ios") && !strings.EqualFold(os, "ipados") {
		return false
	}
	major, _, _ := strings.Cut(osv, ".")
	n, err := strconv.Atoi(major)
	return err != nil || n >= 14
}

// Base is the part of every upstream's decision that does not depend on its
// vendor: the US, COPPA, lmt and ATT rules and, under GDPR with a usable
// string, special feature 1. Applied once to the request every upstream starts
// from, it leaves For only the vendor's own part to change.
func (e *Evaluation) Base() Decision {
	d := Decision{RemoveIDs: e.removeIDs, CoarsenGeo: e.coarsen, Why: e.why}
	if e.gdpr && e.tcf != nil && !e.tcf.SpecialFeatureOptIn(1) {
		d.CoarsenGeo = true
		d.Why |= NoSpecialFeature1
	}
	return d
}

// Restricts reports whether any upstream's request could differ from what the
// SDK sent: GDPR applies, or a request-wide rule removes or coarsens something.
func (e *Evaluation) Restricts() bool { return e.gdpr || e.removeIDs || e.coarsen }

// For decides for an upstream whose Global Vendor List id is vendor (0: none).
func (e *Evaluation) For(vendor int) Decision {
	d := Decision{RemoveIDs: e.removeIDs, CoarsenGeo: e.coarsen, Why: e.why}
	if !e.gdpr {
		return d
	}
	t := e.tcf
	switch {
	case t == nil:
		d.Blocked, d.RemoveIDs, d.CoarsenGeo = true, true, true
		return d
	case vendor <= 0:
		d.Blocked, d.RemoveIDs, d.CoarsenGeo = true, true, true
		d.Why |= NoVendorID
		return d
	}
	if !allowed(t, 2, vendor) {
		d.Blocked = true
		d.Why |= NoPurpose2
	}
	if !allowed(t, 4, vendor) {
		d.RemoveIDs = true
		d.Why |= NoPurpose4
	}
	if !t.SpecialFeatureOptIn(1) {
		d.CoarsenGeo = true
		d.Why |= NoSpecialFeature1
	}
	return d
}

// allowed reports whether vendor has a legal basis for purpose under t: consent,
// or legitimate interest where the policy allows it, as the publisher's
// restriction for the purpose and vendor narrows them.
func allowed(t *consent.TCF, purpose, vendor int) bool {
	byConsent := t.PurposeConsent(purpose) && t.VendorConsents.Has(vendor)
	byLI := liAllowed(purpose, t.PolicyVersion) && t.PurposeLI(purpose) && t.VendorLI.Has(vendor)
	if typ, ok := t.Restriction(purpose, vendor); ok {
		switch typ {
		case consent.NotAllowed:
			return false
		case consent.RequireConsent:
			return byConsent
		case consent.RequireLI:
			return byLI
		}
	}
	return byConsent || byLI
}

// liAllowed reports whether legitimate interest can be a legal basis for
// purpose: never for purpose 1, and from policy version 4 (TCF 2.2) not for
// purposes 3 to 6.
func liAllowed(purpose, policyVersion int) bool {
	switch {
	case purpose == 1:
		return false
	case purpose >= 3 && purpose <= 6:
		return policyVersion < 4
	}
	return true
}
