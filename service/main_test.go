package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		args       []string
		wantErr    string
		wantStdout string
	}{
		{args: []string{"asap", "version"}, wantStdout: version + "\n"},
		{args: []string{"asap", "frobnicate"}, wantErr: `unknown command "frobnicate"`},
		{args: []string{"asap", "serve", "extra"}, wantErr: "serve takes no arguments"},
		{args: []string{"asap", "help"}, wantStdout: usage},
		{args: []string{"asap", "-h"}, wantStdout: usage},
		{args: []string{"asap", "--help"}, wantStdout: usage},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("run(%q) = %v; want an error containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("run(%q) = %v", tt.args, err)
			}
			if stdout.String() != tt.wantStdout {
				t.Errorf("stdout = %q; want %q", stdout.String(), tt.wantStdout)
			}
		})
	}
}

// TestUsageListsEveryCommand: every command that run dispatches is in the help
// text and in the package comment (asap help and go doc say the same).
func TestUsageListsEveryCommand(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := strings.Cut(string(src), "package main")
	for _, cmd := range []string{"serve", "load", "healthcheck", "version", "help"} {
		if !strings.Contains(usage, "\n  "+cmd+" ") {
			t.Errorf("asap help does not list %q", cmd)
		}
		if !strings.Contains(doc, "//\tasap "+cmd+" ") {
			t.Errorf("the package comment does not list %q", cmd)
		}
		if cmd != "serve" && cmd != "help" {
			var stdout bytes.Buffer
			if err := run(context.Background(), []string{"asap", cmd, "--no-such-flag"}, &stdout, io.Discard); err != nil &&
				strings.Contains(err.Error(), "unknown command") {
				t.Errorf("%q is in the help but run does not know it: %v", cmd, err)
			}
		}
	}
}
