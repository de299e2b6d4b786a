package openrtb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"asap/service/internal/jsonstr"
)

// AppendBidRequest appends r as JSON to b: the bytes json.Marshal writes with
// HTML escaping off (json.Encoder.SetEscapeHTML(false)), without the reflection,
// which was a twentieth of ASAP's CPU per ad request in make bench.
// TestAppendBidRequestMatchesEncodingJSON holds the two to the same bytes and the
// same failures (a non-finite float, an ext that is not JSON).
func AppendBidRequest(b []byte, r *BidRequest) ([]byte, error) {
	w := writer{b: b}
	w.bidRequest(r)
	return w.b, w.err
}

// writer appends JSON to b; the first error stops nothing but is kept.
type writer struct {
	b     []byte
	err   error
	comma bool // a field has been written in the current object
}

func (w *writer) open() { w.b = append(w.b, '{'); w.comma = false }
func (w *writer) close() {
	w.b = append(w.b, '}')
	w.comma = true // the object is a field's value: the next field needs a comma
}

func (w *writer) key(k string) {
	if w.comma {
		w.b = append(w.b, ',')
	}
	w.comma = true
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *writer) str(k, v string, omitEmpty bool) {
	if omitEmpty && v == "" {
		return
	}
	w.key(k)
	w.b = jsonstr.Append(w.b, v)
}

func (w *writer) int(k string, v int64) {
	if v == 0 {
		return
	}
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *writer) int8p(k string, v *int8) {
	if v == nil {
		return
	}
	w.key(k)
	w.b = strconv.AppendInt(w.b, int64(*v), 10)
}

func (w *writer) intp(k string, v *int) {
	if v == nil {
		return
	}
	w.key(k)
	w.b = strconv.AppendInt(w.b, int64(*v), 10)
}

func (w *writer) float(k string, v float64) {
	if v == 0 {
		return
	}
	w.key(k)
	w.appendFloat(v)
}

// appendFloat writes v as encoding/json's float64 encoder does.
func (w *writer) appendFloat(v float64) {
	var err error
	if w.b, err = AppendJSONFloat(w.b, v); err != nil {
		w.fail(err)
	}
}

// AppendJSONFloat appends v as encoding/json writes a float64. Infinities and NaN,
// which JSON cannot hold, are an error (and a 0 is appended).
func AppendJSONFloat(b []byte, v float64) ([]byte, error) {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return append(b, '0'), fmt.Errorf("json: unsupported value: %s", strconv.FormatFloat(v, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' { // e-09 to e-9, as encoding/json writes it
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

func (w *writer) strs(k string, v []string) {
	if len(v) == 0 {
		return
	}
	w.key(k)
	w.b = append(w.b, '[')
	for i, s := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = jsonstr.Append(w.b, s)
	}
	w.b = append(w.b, ']')
}

func (w *writer) ints(k string, v []int) {
	if len(v) == 0 {
		return
	}
	w.key(k)
	w.b = append(w.b, '[')
	for i, n := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = strconv.AppendInt(w.b, int64(n), 10)
	}
	w.b = append(w.b, ']')
}

// raw writes an ext compacted, as encoding/json writes a json.RawMessage.
func (w *writer) raw(k string, v json.RawMessage) {
	if len(v) == 0 {
		return
	}
	w.key(k)
	buf := bytes.NewBuffer(w.b)
	if err := json.Compact(buf, v); err != nil {
		w.fail(fmt.Errorf("json: error calling MarshalJSON for type json.RawMessage: %w", err))
		w.b = append(w.b, "null"...)
		return
	}
	w.b = buf.Bytes()
}

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *writer) bidRequest(r *BidRequest) {
	w.open()
	w.str("id", r.ID, false)
	w.key("imp")
	if r.Imp == nil {
		w.b = append(w.b, "null"...)
	} else {
		w.b = append(w.b, '[')
		for i := range r.Imp {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.imp(&r.Imp[i])
		}
		w.b = append(w.b, ']')
	}
	if r.App != nil {
		w.key("app")
		w.app(r.App)
	}
	if r.Device != nil {
		w.key("device")
		w.device(r.Device)
	}
	if r.User != nil {
		w.key("user")
		w.user(r.User)
	}
	w.int("test", int64(r.Test))
	w.int("at", int64(r.At))
	w.int("tmax", r.Tmax)
	w.strs("cur", r.Cur)
	w.strs("bcat", r.Bcat)
	w.strs("badv", r.Badv)
	if s := r.Source; s != nil {
		w.key("source")
		w.open()
		w.int8p("fd", s.FD)
		w.str("tid", s.TID, true)
		w.raw("ext", s.Ext)
		w.close()
	}
	if g := r.Regs; g != nil {
		w.key("regs")
		w.open()
		w.int8p("coppa", g.COPPA)
		w.int8p("gdpr", g.GDPR)
		w.str("us_privacy", g.USPrivacy, true)
		w.str("gpp", g.GPP, true)
		w.ints("gpp_sid", g.GPPSID)
		w.raw("ext", g.Ext)
		w.close()
	}
	w.raw("ext", r.Ext)
	w.close()
}

func (w *writer) imp(m *Imp) {
	w.open()
	w.str("id", m.ID, false)
	if b := m.Banner; b != nil {
		w.key("banner")
		w.open()
		if len(b.Format) > 0 {
			w.key("format")
			w.b = append(w.b, '[')
			for i := range b.Format {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				f := &b.Format[i]
				w.open()
				w.int("w", f.W)
				w.int("h", f.H)
				w.int("wratio", f.WRatio)
				w.int("hratio", f.HRatio)
				w.int("wmin", f.WMin)
				w.raw("ext", f.Ext)
				w.close()
			}
			w.b = append(w.b, ']')
		}
		w.int("w", b.W)
		w.int("h", b.H)
		w.ints("btype", b.BType)
		w.ints("battr", b.BAttr)
		w.int("pos", int64(b.Pos))
		w.strs("mimes", b.MIMEs)
		w.ints("api", b.API)
		w.str("id", b.ID, true)
		w.raw("ext", b.Ext)
		w.close()
	}
	if v := m.Video; v != nil {
		w.key("video")
		w.video(v)
	}
	if a := m.Audio; a != nil {
		w.key("audio")
		w.audio(a)
	}
	if n := m.Native; n != nil {
		w.key("native")
		w.open()
		w.str("request", n.Request, false)
		w.str("ver", n.Ver, true)
		w.ints("api", n.API)
		w.ints("battr", n.BAttr)
		w.raw("ext", n.Ext)
		w.close()
	}
	w.str("displaymanager", m.DisplayManager, true)
	w.str("displaymanagerver", m.DisplayManagerVer, true)
	w.int("instl", int64(m.Instl))
	w.str("tagid", m.TagID, true)
	w.float("bidfloor", m.BidFloor)
	w.str("bidfloorcur", m.BidFloorCur, true)
	w.int8p("secure", m.Secure)
	w.int("rwdd", int64(m.Rwdd))
	w.int("exp", m.Exp)
	w.raw("ext", m.Ext)
	w.close()
}

func (w *writer) video(v *Video) {
	w.open()
	w.strs("mimes", v.MIMEs)
	w.int("minduration", v.MinDuration)
	w.int("maxduration", v.MaxDuration)
	w.intp("startdelay", v.StartDelay)
	w.ints("protocols", v.Protocols)
	w.int("w", v.W)
	w.int("h", v.H)
	w.int("plcmt", int64(v.Plcmt))
	w.int("placement", int64(v.Placement))
	w.int("linearity", int64(v.Linearity))
	w.int8p("skip", v.Skip)
	w.int("skipmin", v.SkipMin)
	w.int("skipafter", v.SkipAfter)
	w.ints("battr", v.BAttr)
	w.int("maxextended", v.MaxExtended)
	w.int("minbitrate", v.MinBitrate)
	w.int("maxbitrate", v.MaxBitrate)
	w.int8p("boxingallowed", v.BoxingAllowed)
	w.ints("playbackmethod", v.PlaybackMethod)
	w.int("playbackend", int64(v.PlaybackEnd))
	w.ints("delivery", v.Delivery)
	w.int("pos", int64(v.Pos))
	w.ints("api", v.API)
	w.ints("companiontype", v.CompanionType)
	w.raw("ext", v.Ext)
	w.close()
}

func (w *writer) audio(a *Audio) {
	w.open()
	w.strs("mimes", a.MIMEs)
	w.int("minduration", a.MinDuration)
	w.int("maxduration", a.MaxDuration)
	w.ints("protocols", a.Protocols)
	w.intp("startdelay", a.StartDelay)
	w.ints("battr", a.BAttr)
	w.int("maxextended", a.MaxExtended)
	w.int("minbitrate", a.MinBitrate)
	w.int("maxbitrate", a.MaxBitrate)
	w.ints("delivery", a.Delivery)
	w.ints("api", a.API)
	w.int("feed", int64(a.Feed))
	w.int8p("stitched", a.Stitched)
	w.int("nvol", int64(a.NVol))
	w.raw("ext", a.Ext)
	w.close()
}

func (w *writer) app(a *App) {
	w.open()
	w.str("id", a.ID, true)
	w.str("name", a.Name, true)
	w.str("bundle", a.Bundle, true)
	w.str("domain", a.Domain, true)
	w.str("storeurl", a.StoreURL, true)
	w.strs("cat", a.Cat)
	w.str("ver", a.Ver, true)
	if p := a.Publisher; p != nil {
		w.key("publisher")
		w.open()
		w.str("id", p.ID, true)
		w.str("name", p.Name, true)
		w.str("domain", p.Domain, true)
		w.raw("ext", p.Ext)
		w.close()
	}
	w.raw("ext", a.Ext)
	w.close()
}

func (w *writer) user(u *User) {
	w.open()
	w.str("id", u.ID, true)
	w.str("buyeruid", u.BuyerUID, true)
	w.str("consent", u.Consent, true)
	if len(u.Data) > 0 {
		w.key("data")
		w.b = append(w.b, '[')
		for i := range u.Data {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			d := &u.Data[i]
			w.open()
			w.str("id", d.ID, true)
			w.str("name", d.Name, true)
			if len(d.Segment) > 0 {
				w.key("segment")
				w.b = append(w.b, '[')
				for j := range d.Segment {
					if j > 0 {
						w.b = append(w.b, ',')
					}
					sg := &d.Segment[j]
					w.open()
					w.str("id", sg.ID, true)
					w.str("name", sg.Name, true)
					w.str("value", sg.Value, true)
					w.raw("ext", sg.Ext)
					w.close()
				}
				w.b = append(w.b, ']')
			}
			w.raw("ext", d.Ext)
			w.close()
		}
		w.b = append(w.b, ']')
	}
	if len(u.EIDs) > 0 {
		w.key("eids")
		w.b = append(w.b, '[')
		for i := range u.EIDs {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			e := &u.EIDs[i]
			w.open()
			w.str("source", e.Source, true)
			if len(e.UIDs) > 0 {
				w.key("uids")
				w.b = append(w.b, '[')
				for j := range e.UIDs {
					if j > 0 {
						w.b = append(w.b, ',')
					}
					id := &e.UIDs[j]
					w.open()
					w.str("id", id.ID, true)
					w.int("atype", int64(id.AType))
					w.raw("ext", id.Ext)
					w.close()
				}
				w.b = append(w.b, ']')
			}
			w.raw("ext", e.Ext)
			w.close()
		}
		w.b = append(w.b, ']')
	}
	w.raw("ext", u.Ext)
	w.close()
}

func (w *writer) device(d *Device) {
	w.open()
	if g := d.Geo; g != nil {
		w.key("geo")
		w.open()
		if g.Lat != nil {
			w.key("lat")
			w.appendFloat(*g.Lat)
		}
		if g.Lon != nil {
			w.key("lon")
			w.appendFloat(*g.Lon)
		}
		w.int("type", int64(g.Type))
		w.str("country", g.Country, true)
		w.str("region", g.Region, true)
		w.str("city", g.City, true)
		w.str("zip", g.ZIP, true)
		w.raw("ext", g.Ext)
		w.close()
	}
	w.int8p("dnt", d.DNT)
	w.int8p("lmt", d.Lmt)
	w.str("ua", d.UA, true)
	w.str("ip", d.IP, true)
	w.str("ipv6", d.IPv6, true)
	w.int("devicetype", int64(d.DeviceType))
	w.str("make", d.Make, true)
	w.str("model", d.Model, true)
	w.str("os", d.OS, true)
	w.str("osv", d.OSV, true)
	w.int("h", d.H)
	w.int("w", d.W)
	w.str("language", d.Language, true)
	w.intp("connectiontype", d.ConnectionType)
	w.str("ifa", d.IFA, true)
	w.raw("ext", d.Ext)
	w.close()
}
