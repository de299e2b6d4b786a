package formattest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Fatalf and Skipf end the goroutine and say so.
type recorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder in a goroutine of its own, as Fatalf needs.
func run(t *testing.T, f func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

const valid41 = `<VAST version="4.1" xmlns="http://www.iab.com/VAST"><Ad id="1"><Wrapper><AdSystem>x</AdSystem>` +
	`<Impression><![CDATA[https://x.example/i]]></Impression><VASTAdTagURI><![CDATA[https://x.example/v]]></VASTAdTagURI></Wrapper></Ad></VAST>`

func TestValidateVAST(t *testing.T) {
	xmllint(t) // skips here too without xmllint (fails under CI=true)
	tests := []struct {
		name     string
		doc      string
		version  string
		wantFail string
	}{
		{"valid", valid41, "4.1", ""},
		{"an element the schema lacks", `<VAST version="4.1" xmlns="http://www.iab.com/VAST"><Ad id="1"><Bogus/></Ad></VAST>`, "4.1", "does not validate"},
		{"not XML", `<VAST`, "4.1", "does not validate"},
		{"a 4.1 document against the 2.0 schema", valid41, "2.0", "does not validate"},
		{"no schema of the version", valid41, "4.3", `no VAST "4.3" schema`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, func(tb testing.TB) { ValidateVAST(tb, []byte(tt.doc), tt.version) })
			if tt.wantFail == "" && r.failed || tt.wantFail != "" && !r.failed {
				t.Fatalf("failed %v (%s); want failed %v", r.failed, r.msg, tt.wantFail != "")
			}
			if r.failed && !strings.Contains(r.msg, tt.wantFail) {
				t.Errorf("message %q; want it to hold %q", r.msg, tt.wantFail)
			}
		})
	}
}

// Without xmllint the check skips, and under CI=true it fails.
func TestValidateVASTWithoutXmllint(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CI", "")
	if r := run(t, func(tb testing.TB) { ValidateVAST(tb, []byte(valid41), "4.1") }); !r.skipped || r.failed {
		t.Errorf("skipped %v failed %v; want a skip", r.skipped, r.failed)
	}
	t.Setenv("CI", "true")
	if r := run(t, func(tb testing.TB) { ValidateVAST(tb, []byte(valid41), "4.1") }); !r.failed {
		t.Errorf("skipped %v failed %v; want a failure under CI=true", r.skipped, r.failed)
	}
}
