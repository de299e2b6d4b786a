package privacy

import (
	"math"
	"net/netip"

	"asap/service/internal/openrtb"
)

// Removed is a set of the fields Apply removed or coarsened, for the trace.
type Removed uint8

// The fields Apply can remove or coarsen.
const (
	RemovedIFA Removed = 1 << iota
	RemovedUserID
	RemovedBuyerUID
	RemovedEIDs
	RemovedData
	TruncatedIP
	RoundedGeo
)

var removedNames = [...]string{"device.ifa", "user.id", "user.buyeruid", "user.eids", "user.data", "device.ip truncated", "device.geo rounded"}

// Names lists the fields in the set.
func (r Removed) Names() []string {
	var out []string
	for i, n := range removedNames {
		if r&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Apply returns req as an upstream with decision d may receive it: req itself
// when nothing changes, else a copy that shares every part it does not change.
// req is never modified, so one request serves every upstream.
func Apply(req *openrtb.BidRequest, d Decision) (*openrtb.BidRequest, Removed) {
	var removed Removed
	dev, user := req.Device, req.User
	if d.RemoveIDs {
		if dev != nil && dev.IFA != "" {
			removed |= RemovedIFA
		}
		if user != nil {
			removed |= pick(user.ID != "", RemovedUserID) | pick(user.BuyerUID != "", RemovedBuyerUID) |
				pick(len(user.EIDs) > 0, RemovedEIDs) | pick(len(user.Data) > 0, RemovedData)
		}
	}
	var ip4, ip6 string
	if d.CoarsenGeo && dev != nil {
		if dev.Geo != nil && (dev.Geo.Lat != nil || dev.Geo.Lon != nil) {
			removed |= RoundedGeo
		}
		var cut4, cut6 bool
		ip4, cut4 = truncateText(dev.IP)
		ip6, cut6 = truncateText(dev.IPv6)
		if cut4 || cut6 {
			removed |= TruncatedIP
		}
	}
	if removed == 0 {
		return req, 0
	}
	out := *req
	if removed&(RemovedIFA|TruncatedIP|RoundedGeo) != 0 {
		dv := *dev
		if removed&RemovedIFA != 0 {
			dv.IFA = ""
		}
		if removed&TruncatedIP != 0 {
			dv.IP, dv.IPv6 = ip4, ip6
		}
		if removed&RoundedGeo != 0 {
			g := *dev.Geo
			g.Lat, g.Lon = round2(g.Lat), round2(g.Lon)
			dv.Geo = &g
		}
		out.Device = &dv
	}
	if removed&(RemovedUserID|RemovedBuyerUID|RemovedEIDs|RemovedData) != 0 {
		u := *user
		u.ID, u.BuyerUID, u.EIDs, u.Data = "", "", nil, nil
		out.User = &u
	}
	return &out, removed
}

func pick(b bool, r Removed) Removed {
	if b {
		return r
	}
	return 0
}

// truncateText truncates an IP address in text form; an address that does not
// parse is dropped. changed reports whether the text changed.
func truncateText(s string) (out string, changed bool) {
	if s == "" {
		return "", false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", true
	}
	out = Truncate(a).String()
	return out, out != s
}

// round2 rounds a coordinate to two decimals (about a kilometre).
func round2(v *float64) *float64 {
	if v == nil {
		return nil
	}
	r := math.Round(*v*100) / 100
	return &r
}

// Truncate keeps the network part of ip: /24 of IPv4, /48 of IPv6.
func Truncate(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	bits := 48
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ip
	}
	return p.Addr()
}
