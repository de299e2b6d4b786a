package format

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// VAST is what ASAP reads from a VAST document.
type VAST struct {
	// Version is the root's version attribute as written: "2.0" to "4.3".
	Version string
	// Duration is the Duration of the first Linear that has one, in whole
	// seconds (a fraction is dropped); 0 when no Linear has one (a wrapper, a
	// non-linear ad).
	Duration int
	// Wrapper reports whether the first Ad holds a Wrapper rather than an InLine:
	// its player follows VASTAdTagURI for the media.
	Wrapper bool
}

// maxDepth bounds how deep ReadVAST follows nested elements (VAST's own go to
// about eight; extensions carry arbitrary XML, rarely deep).
const maxDepth = 100

// ReadVAST checks that adm is a VAST document ASAP serves, and reads its facts:
// well-formed XML (UTF-8 or US-ASCII), one root element VAST with a version from
// 2.0 to 4.3, and at least one Ad holding an InLine or a Wrapper; the first
// Linear's Duration, if any, must be HH:MM:SS or HH:MM:SS.mmm. VAST 1 (root
// VideoAdServingTemplate) is refused. The error names the first problem found.
// The work is one pass over adm, and nesting is bounded by maxDepth.
func ReadVAST(adm string) (VAST, error) {
	var v VAST
	dec := xml.NewDecoder(strings.NewReader(adm))
	dec.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "us-ascii", "ascii":
			return r, nil
		}
		return nil, fmt.Errorf("encoding %s is not supported; want UTF-8", quote(label))
	}
	var (
		depth      int
		root       bool // the root element was seen
		inAd       bool // in an Ad child of the root
		inBody     bool // in an InLine or Wrapper of such an Ad
		ads        int  // Ads holding an InLine or Wrapper
		linear     int  // depth of the Linear being read; 0 when none
		inDuration bool
		duration   strings.Builder
		found      bool // a Linear's Duration was read
	)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			// The decoder's message may quote names of any length: cut it.
			msg := err.Error()
			if len(msg) > 200 {
				msg = msg[:200] + "..."
			}
			return VAST{}, errors.New("VAST: not well-formed XML: " + strings.ToValidUTF8(msg, "?"))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return VAST{}, fmt.Errorf("VAST: elements nested deeper than %d", maxDepth)
			}
			name := t.Name.Local
			switch {
			case depth == 1:
				if root {
					return VAST{}, errors.New("VAST: more than one root element")
				}
				root = true
				if v.Version, err = rootVersion(t); err != nil {
					return VAST{}, err
				}
			case depth == 2:
				inAd = name == "Ad"
			case depth == 3 && inAd && (name == "InLine" || name == "Wrapper"):
				if ads == 0 {
					v.Wrapper = name == "Wrapper"
				}
				ads++
				inBody = true
			case !inBody || found:
			case linear == 0 && name == "Linear":
				linear = depth
			case linear != 0 && depth == linear+1 && name == "Duration":
				inDuration = true
			}
		case xml.EndElement:
			switch {
			case inDuration:
				inDuration = false
				d, err := parseDuration(duration.String())
				if err != nil {
					return VAST{}, err
				}
				v.Duration, found = d, true
			case depth == linear:
				linear = 0
			case depth == 3:
				inBody = false
			case depth == 2:
				inAd = false
			}
			depth--
		case xml.CharData:
			switch {
			case depth == 0 && len(strings.TrimSpace(string(t))) > 0:
				return VAST{}, errors.New("VAST: text outside the root element")
			case inDuration:
				if duration.Len()+len(t) > 64 {
					return VAST{}, errors.New("VAST: Linear Duration longer than 64 bytes")
				}
				duration.Write(t)
			}
		}
	}
	if !root {
		return VAST{}, errors.New("VAST: no root element")
	}
	if ads == 0 {
		return VAST{}, errors.New("VAST: no Ad holding an InLine or a Wrapper")
	}
	return v, nil
}

// rootVersion checks the root element and returns its version.
func rootVersion(t xml.StartElement) (string, error) {
	switch t.Name.Local {
	case "VAST":
	case "VideoAdServingTemplate":
		return "", errors.New("VAST: VAST 1 (root VideoAdServingTemplate) is not supported; want VAST 2.0 to 4.3")
	default:
		return "", fmt.Errorf("VAST: root element is %s; want VAST", quote(t.Name.Local))
	}
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == "version" {
			if !supportedVersion(a.Value) {
				return "", fmt.Errorf("VAST: version %s is not supported; want 2.0 to 4.3", quote(a.Value))
			}
			return a.Value, nil
		}
	}
	return "", errors.New("VAST: the root element has no version")
}

// supportedVersion reports whether v is major.minor[.patch] from 2.0 to 4.3.
func supportedVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	n := make([]int, len(parts))
	for i, p := range parts {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
		n[i], _ = strconv.Atoi(p) // digits only, at most three
	}
	major, minor := n[0], n[1]
	return major == 2 || major == 3 || major == 4 && minor <= 3
}

// parseDuration reads a VAST Duration, HH:MM:SS or HH:MM:SS.mmm, as whole seconds.
func parseDuration(s string) (int, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("VAST: Linear Duration %s; want HH:MM:SS or HH:MM:SS.mmm", quote(s))
	hms, frac, hasFrac := strings.Cut(s, ".")
	if hasFrac && (frac == "" || strings.Trim(frac, "0123456789") != "") {
		return 0, bad
	}
	parts := strings.Split(hms, ":")
	if len(parts) != 3 {
		return 0, bad
	}
	var n [3]int
	for i, p := range parts {
		if len(p) < 1 || len(p) > 2 && i > 0 || len(p) > 4 || strings.Trim(p, "0123456789") != "" {
			return 0, bad
		}
		n[i], _ = strconv.Atoi(p) // at most four digits
	}
	if n[1] > 59 || n[2] > 59 {
		return 0, bad
	}
	return n[0]*3600 + n[1]*60 + n[2], nil
}

// quote quotes a string taken from a bid for an error message, cut to 40 bytes.
func quote(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
