package decode

import (
	"bytes"
	"encoding/json"
)

// The fast path for omen JSON samples navigates payloads already known to
// be valid JSON without encoding/json, taking the raw spans of "labels",
// "t", "timestamp" and "v" (labels are interned by their raw bytes, like
// influx series keys). Anything unusual — escaped keys, keys differing
// from the known ones only in case (encoding/json matches those), a
// non-object item — makes it return false before producing anything, and
// the item takes the encoding/json path, so both paths accept exactly the
// same inputs.

// jsonSpans are the raw values of one object's known keys.
type jsonSpans struct {
	labels, t, timestamp, v, samples json.RawMessage
}

func jsonWS(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// jsonStringEnd returns the index after the closing quote of the string
// starting at p[i] == '"', and whether it contains a backslash.
func jsonStringEnd(p []byte, i int) (int, bool) {
	esc := false
	for i++; i < len(p); i++ {
		switch p[i] {
		case '\\':
			esc = true
			i++
		case '"':
			return i + 1, esc
		}
	}
	return len(p), esc
}

// jsonValueEnd returns the index after the valid JSON value at p[i].
func jsonValueEnd(p []byte, i int) int {
	switch p[i] {
	case '"':
		end, _ := jsonStringEnd(p, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(p) {
			switch p[i] {
			case '"':
				i, _ = jsonStringEnd(p, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(p)
	}
	for i < len(p) {
		switch p[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// jsonObject fills sp from the valid JSON object at p[i]. It reports false
// when p[i] is not an object or a key needs encoding/json's rules.
func jsonObject(p []byte, i int, sp *jsonSpans) bool {
	*sp = jsonSpans{}
	if i >= len(p) || p[i] != '{' {
		return false
	}
	i = jsonWS(p, i+1)
	if i < len(p) && p[i] == '}' {
		return true
	}
	for i < len(p) {
		ks := i
		ke, esc := jsonStringEnd(p, i)
		if esc {
			return false
		}
		key := p[ks+1 : ke-1]
		i = jsonWS(p, ke)
		i = jsonWS(p, i+1) // ':'
		ve := jsonValueEnd(p, i)
		v := json.RawMessage(p[i:ve])
		switch string(key) {
		case "labels":
			sp.labels = v
		case "t":
			sp.t = v
		case "timestamp":
			sp.timestamp = v
		case "v":
			sp.v = v
		case "samples":
			sp.samples = v
		default:
			for _, k := range [...]string{"labels", "t", "timestamp", "v", "samples"} {
				if bytes.EqualFold(key, []byte(k)) {
					return false
				}
			}
		}
		i = jsonWS(p, ve)
		if i >= len(p) || p[i] == '}' {
			return true
		}
		i = jsonWS(p, i+1) // ','
	}
	return true
}

// fastJSONItem decodes a valid envelope or sample; false means the item
// needs the encoding/json path (nothing was produced).
func (d *Decoder) fastJSONItem(item []byte, res *Result) bool {
	var top jsonSpans
	if !jsonObject(item, jsonWS(item, 0), &top) {
		return false
	}
	if !absent(top.samples) {
		if top.samples[0] != '[' {
			return false
		}
		arr := top.samples
		n := 0
		for i := jsonWS(arr, 1); i < len(arr) && arr[i] != ']'; {
			end := jsonValueEnd(arr, i)
			elem := arr[i:end]
			d.json.item++
			n++
			var sp jsonSpans
			if jsonObject(elem, 0, &sp) {
				d.fastSample(&sp, res)
			} else {
				d.slowJSONSample(elem, res)
			}
			i = jsonWS(arr, end)
			if i < len(arr) && arr[i] == ',' {
				i = jsonWS(arr, i+1)
			}
		}
		if n > 0 {
			return true
		}
	}
	if absent(top.labels) && absent(top.v) {
		if len(top.samples) > 0 {
			return true // {"samples":[]} or null: a batch of no sample
		}
		d.json.item++
		d.itemErr(res, ReasonMalformed, "neither samples nor a sample")
		return true
	}
	d.json.item++
	d.fastSample(&top, res)
	return true
}

func (d *Decoder) fastSample(sp *jsonSpans, res *Result) {
	s := &d.json.fast
	s.Labels, s.T, s.Timestamp, s.V = sp.labels, sp.t, sp.timestamp, sp.v
	d.jsonSample(s, res)
	*s = jsonSampleDoc{}
}
