package admin

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
)

// Diff returns the fields that differ between two placement records, sorted by
// path: members of objects are compared one by one, arrays and other values whole.
// A nil record (none, or a deletion) counts as an empty one, so that every field of
// the other is listed. A record that is not a JSON object is one field, "".
func Diff(old, new json.RawMessage) []FieldChange {
	var out []FieldChange
	diffValue("", orEmpty(old), orEmpty(new), &out)
	return out
}

func orEmpty(raw json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return json.RawMessage("{}")
	}
	return raw
}

// diffValue appends to out the changes between a and b at path; nil means absent.
func diffValue(path string, a, b json.RawMessage, out *[]FieldChange) {
	oa, aObj := object(a)
	ob, bObj := object(b)
	if aObj && bObj {
		keys := make([]string, 0, len(oa)+len(ob))
		for k := range oa {
			keys = append(keys, k)
		}
		for k := range ob {
			if _, ok := oa[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			diffValue(p, oa[k], ob[k], out)
		}
		return
	}
	if !equalJSON(a, b) {
		*out = append(*out, FieldChange{Path: path, Old: a, New: b})
	}
}

// object decodes raw as a JSON object of raw members.
func object(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	if raw == nil {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// equalJSON reports whether a and b hold the same JSON value (nil: absent).
func equalJSON(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var va, vb any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&va) != nil || db.Decode(&vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}
