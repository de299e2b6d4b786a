// Package format says which ad formats an impression offers and reads a bid's
// markup: the format of a bid (its mtype, else what the impression offered, else
// what the markup is), the facts of a VAST document and the assets of a Native 1.2
// response. Everything it reads comes from bidders: every reader is bounded by the
// size of its input and fuzzed.
package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"asap/service/internal/openrtb"
)

// Kind is an ad format, numbered as OpenRTB's mtype (bid.mtype, AdCOM's
// creative subtypes): Banner 1, Video 2, Audio 3, Native 4.
type Kind uint8

// The formats, with their OpenRTB mtype values.
const (
	Banner Kind = 1
	Video  Kind = 2
	Audio  Kind = 3
	Native Kind = 4
)

var kindNames = [...]string{Banner: "banner", Video: "video", Audio: "audio", Native: "native"}

// String returns the format's name as the SDK answer's "type" spells it
// ("banner", "video", "audio", "native"), or "mtype N" for a number OpenRTB does
// not define.
func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return "mtype " + strconv.Itoa(int(k))
}

func (k Kind) valid() bool { return k >= Banner && k <= Native }

// Set is a set of formats (an impression's offer).
type Set uint8

// SetOf returns the set holding kinds; a Kind OpenRTB does not define is left out.
func SetOf(kinds ...Kind) Set {
	var s Set
	for _, k := range kinds {
		if k.valid() {
			s |= 1 << k
		}
	}
	return s
}

// Has reports whether k is in the set.
func (s Set) Has(k Kind) bool { return k.valid() && s&(1<<k) != 0 }

// Only returns the set's one format, and false when it holds none or several.
func (s Set) Only() (Kind, bool) {
	var only Kind
	for k := Banner; k <= Native; k++ {
		if s.Has(k) {
			if only != 0 {
				return 0, false
			}
			only = k
		}
	}
	return only, only != 0
}

// String lists the set's formats, "banner+video"; the empty set is "none".
func (s Set) String() string {
	var b strings.Builder
	for k := Banner; k <= Native; k++ {
		if s.Has(k) {
			if b.Len() > 0 {
				b.WriteByte('+')
			}
			b.WriteString(k.String())
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// Offered returns the formats imp offers: one for each of its banner, video,
// audio and native objects. It is the one place that says so.
func Offered(imp *openrtb.Imp) Set {
	var s Set
	if imp.Banner != nil {
		s |= 1 << Banner
	}
	if imp.Video != nil {
		s |= 1 << Video
	}
	if imp.Audio != nil {
		s |= 1 << Audio
	}
	if imp.Native != nil {
		s |= 1 << Native
	}
	return s
}

// Of returns the format of a bid with the given mtype and markup on an impression
// that offered the formats offered: the mtype when the bid has one (a number
// OpenRTB does not define is returned as it is, a Kind no Set holds, so the bid
// counts as one of a format not offered); else the impression's only format; else
// what the markup is (Sniff).
func Of(mtype int8, offered Set, adm string) Kind {
	if mtype != 0 {
		return Kind(uint8(mtype))
	}
	if k, ok := offered.Only(); ok {
		return k
	}
	return Sniff(adm)
}

// Sniff returns what markup looks like: Video for a VAST document (its root
// element, after any XML declaration, comments and doctype, is VAST, or VAST 1's
// VideoAdServingTemplate), Native for a JSON object that is a Native response (it
// has a "native" object, or "assets" or "link"), else Banner. It reads no more
// than it must: the start of an XML document, the top-level keys of a JSON one.
func Sniff(adm string) Kind {
	s := trimLeft(adm)
	switch {
	case strings.HasPrefix(s, "<"):
		if isVAST(s) {
			return Video
		}
	case strings.HasPrefix(s, "{"):
		if isNative(s) {
			return Native
		}
	}
	return Banner
}

// trimLeft drops leading white space and a UTF-8 byte order mark.
func trimLeft(s string) string {
	s = strings.TrimPrefix(strings.TrimLeft(s, " \t\r\n"), "\ufeff")
	return strings.TrimLeft(s, " \t\r\n")
}

// isVAST reports whether the XML document s (starting with '<') has VAST's root
// element. Declarations, processing instructions, comments and a doctype before
// it are skipped; they are few, and each step moves forward.
func isVAST(s string) bool {
	for {
		s = trimLeft(s)
		var end string
		switch {
		case strings.HasPrefix(s, "<?"):
			end = "?>"
		case strings.HasPrefix(s, "<!--"):
			end = "-->"
		case strings.HasPrefix(s, "<!"):
			end = ">" // a doctype
			if lt, lb := strings.IndexByte(s, '>'), strings.IndexByte(s, '['); lb >= 0 && lb < lt {
				end = "]>" // with an internal subset, which holds '>'s
			}
		case strings.HasPrefix(s, "<"):
			name := s[1:]
			if i := strings.IndexAny(name, " \t\r\n/>"); i >= 0 {
				name = name[:i]
			}
			if i := strings.LastIndexByte(name, ':'); i >= 0 { // a namespace prefix
				name = name[i+1:]
			}
			return name == "VAST" || name == "VideoAdServingTemplate"
		default:
			return false
		}
		i := strings.Index(s, end)
		if i < 0 {
			return false
		}
		s = s[i+len(end):]
	}
}

// isNative reports whether the JSON text s (starting with '{') is an object with
// a top-level "native" object, or "assets" or "link", keys matched exactly.
func isNative(s string) bool {
	found := false
	err := members([]byte(s), func(key string, v json.RawMessage) {
		switch key {
		case "native":
			found = found || bytes.HasPrefix(v, []byte("{"))
		case "assets", "link":
			found = true
		}
	})
	return err == nil && found
}

// members calls field with each key of the JSON object data and its value.
func members(data []byte, field func(key string, v json.RawMessage)) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errNotObject
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // keys are strings in an object the decoder accepted
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		field(key, v)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailing
	}
	return nil
}

var (
	errNotObject = errors.New("not a JSON object")
	errTrailing  = errors.New("data after the JSON object")
)
