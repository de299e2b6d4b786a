package main

import (
	"bytes"
	"context"
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
