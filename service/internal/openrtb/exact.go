package openrtb

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// decodeExact is DecodeBidResponse's slow path: encoding/json reads the
// structure and every value, but the keys of the BidResponse, SeatBid and Bid
// objects are compared to OpenRTB's names exactly, and a name given twice in
// one object is an error. Values decode as json.Unmarshal decodes them (a null
// leaves the field as it is; a value of the wrong type is an error), so where
// names are all spelled right and given once the result is json.Unmarshal's.
func decodeExact(data []byte, resp *BidResponse) error {
	if !json.Valid(data) {
		// json.Unmarshal's own error says where the syntax breaks.
		var v any
		return json.Unmarshal(data, &v)
	}
	var r BidResponse
	if err := decodeObject(data, "BidResponse", func(key string, v json.RawMessage) (bool, error) {
		switch key {
		case "id":
			return true, json.Unmarshal(v, &r.ID)
		case "seatbid":
			return true, decodeArray(v, &r.SeatBid, decodeSeatBid)
		case "bidid":
			return true, json.Unmarshal(v, &r.BidID)
		case "cur":
			return true, json.Unmarshal(v, &r.Cur)
		case "customdata":
			return true, json.Unmarshal(v, &r.CustomData)
		case "nbr":
			return true, json.Unmarshal(v, &r.NBR)
		case "ext":
			return true, json.Unmarshal(v, &r.Ext)
		}
		return false, nil
	}); err != nil {
		return err
	}
	*resp = r
	return nil
}

func decodeSeatBid(data json.RawMessage, sb *SeatBid) error {
	return decodeObject(data, "SeatBid", func(key string, v json.RawMessage) (bool, error) {
		switch key {
		case "bid":
			return true, decodeArray(v, &sb.Bid, decodeBid)
		case "seat":
			return true, json.Unmarshal(v, &sb.Seat)
		case "group":
			return true, json.Unmarshal(v, &sb.Group)
		case "ext":
			return true, json.Unmarshal(v, &sb.Ext)
		}
		return false, nil
	})
}

func decodeBid(data json.RawMessage, b *Bid) error {
	return decodeObject(data, "Bid", func(key string, v json.RawMessage) (bool, error) {
		var dst any
		switch key {
		case "id":
			dst = &b.ID
		case "impid":
			dst = &b.ImpID
		case "price":
			dst = &b.Price
		case "nurl":
			dst = &b.NURL
		case "burl":
			dst = &b.BURL
		case "lurl":
			dst = &b.LURL
		case "adm":
			dst = &b.AdM
		case "adid":
			dst = &b.AdID
		case "adomain":
			dst = &b.ADomain
		case "bundle":
			dst = &b.Bundle
		case "iurl":
			dst = &b.IURL
		case "cid":
			dst = &b.CID
		case "crid":
			dst = &b.CrID
		case "cat":
			dst = &b.Cat
		case "attr":
			dst = &b.Attr
		case "dealid":
			dst = &b.DealID
		case "w":
			dst = &b.W
		case "h":
			dst = &b.H
		case "exp":
			dst = &b.Exp
		case "mtype":
			dst = &b.MType
		case "ext":
			dst = &b.Ext
		default:
			return false, nil
		}
		return true, json.Unmarshal(v, dst)
	})
}

// decodeObject calls field with every key of the object data (valid JSON) and
// its raw value; field reports whether the key is one of the object's fields.
// null decodes to nothing, as json.Unmarshal leaves a struct alone for it.
func decodeObject(data json.RawMessage, name string, field func(key string, v json.RawMessage) (bool, error)) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("openrtb: %s: want an object, got %s", name, valueKind(tok))
	}
	seen := make(map[string]bool)
	var errs error
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // a key is always a string in valid JSON
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		known, err := field(key, v)
		if known {
			if seen[key] {
				return fmt.Errorf("openrtb: %s field %q given twice", name, key)
			}
			seen[key] = true
		}
		// Like json.Unmarshal, go on after a value of the wrong type so that the
		// first such error is the one returned.
		if err != nil && errs == nil {
			errs = err
		}
	}
	return errs
}

// decodeArray decodes the array data (valid JSON) into *dst with elem for each
// element, as json.Unmarshal decodes a slice: null leaves *dst nil, [] makes it
// empty, and a null element is a zero value.
func decodeArray[T any](data json.RawMessage, dst *[]T, elem func(json.RawMessage, *T) error) error {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return err
	}
	if raws == nil {
		*dst = nil
		return nil
	}
	out := make([]T, len(raws))
	var errs error
	for i, raw := range raws {
		if err := elem(raw, &out[i]); err != nil && errs == nil {
			errs = err
		}
	}
	*dst = out
	return errs
}

func valueKind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "array"
	case string:
		return "string"
	case bool:
		return "bool"
	default:
		return "number"
	}
}
