package admin

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // "" is nil
		want     string // the changes, as path:old→new
	}{
		{"equal", `{"a": 1, "b": [1, 2]}`, `{"b": [1, 2], "a": 1}`, "[]"},
		{"scalar", `{"a": 1, "b": "x"}`, `{"a": 2, "b": "x"}`, "[a:1→2]"},
		{"nested", `{"ad": {"bidfloor": 0.5, "tmaxMs": 250}}`, `{"ad": {"bidfloor": 0.75, "tmaxMs": 250}}`, "[ad.bidfloor:0.5→0.75]"},
		{"array whole", `{"m": [{"k": 1}, {"k": 2}]}`, `{"m": [{"k": 1}]}`, `[m:[{"k": 1}, {"k": 2}]→[{"k": 1}]]`},
		{"added and removed", `{"a": 1}`, `{"b": 2}`, "[a:1→ b:→2]"},
		{"created", ``, `{"b": 2, "a": 1}`, "[a:→1 b:→2]"},
		{"deleted", `{"a": 1}`, `null`, "[a:1→]"},
		{"object to scalar", `{"ad": {"x": 1}}`, `{"ad": null}`, `[ad:{"x": 1}→null]`},
		{"not objects", `[1]`, `[2]`, "[:[1]→[2]]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := func(s string) json.RawMessage {
				if s == "" {
					return nil
				}
				return json.RawMessage(s)
			}
			var got []string
			for _, c := range Diff(raw(tt.old), raw(tt.new)) {
				got = append(got, fmt.Sprintf("%s:%s→%s", c.Path, c.Old, c.New))
			}
			if s := fmt.Sprint(got); s != tt.want && !(len(got) == 0 && tt.want == "[]") {
				t.Errorf("Diff = %s; want %s", s, tt.want)
			}
		})
	}
}
