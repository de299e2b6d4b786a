package upstream

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzHostKey: the notices a worker sends together are those with one hostKey,
// and h1.Transport.Pipeline refuses a batch whose URLs differ in scheme or host.
// So two URLs with one key must parse (where url.Parse takes them) to the same
// scheme and host; and only http(s) URLs have a key, a prefix of the URL.
func FuzzHostKey(f *testing.F) {
	for _, s := range [][2]string{
		{"http://a.example/win?p=1", "http://a.example?x"},
		{"https://u:p@h:8443/x", "https://h:8443/y"},
		{"http://h#frag", "http://h/"},
		{"HTTP://h/", "ftp://h/"},
		{"http://[::1]:80/w", "http://%5B::1%5D/"},
		{"http://", "https:///x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, oka := hostKey(a)
		kb, okb := hostKey(b)
		for _, c := range []struct {
			raw, key string
			ok       bool
		}{{a, ka, oka}, {b, kb, okb}} {
			web := strings.HasPrefix(c.raw, "http://") || strings.HasPrefix(c.raw, "https://")
			if c.ok != web || (c.ok && !strings.HasPrefix(c.raw, c.key)) {
				t.Fatalf("hostKey(%q) = %q, %v", c.raw, c.key, c.ok)
			}
		}
		if !oka || !okb || ka != kb {
			return
		}
		ua, erra := url.Parse(a)
		ub, errb := url.Parse(b)
		if erra != nil || errb != nil {
			return
		}
		if ua.Scheme != ub.Scheme || ua.Host != ub.Host {
			t.Fatalf("%q and %q share the key %q but parse to %s://%s and %s://%s", a, b, ka, ua.Scheme, ua.Host, ub.Scheme, ub.Host)
		}
	})
}
