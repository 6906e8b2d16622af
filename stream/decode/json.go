package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/omen-sre/omen/telemetry"
)

// jsonScratch holds reusable JSON decoding state.
type jsonScratch struct {
	buf    []byte
	item   int // running item number of the current Decode call
	top    []json.RawMessage
	env    jsonSampleDoc
	sample jsonSampleDoc
	fast   jsonSampleDoc // aliases payloads: never passed to json.Unmarshal
	noFast bool          // tests: force the encoding/json path
	lmap   map[string]string
	str    string
}

// jsonSampleDoc is a sample or an envelope of samples.
type jsonSampleDoc struct {
	Samples   jsonItems       `json:"samples"`
	Labels    json.RawMessage `json:"labels"`
	T         json.RawMessage `json:"t"`
	Timestamp json.RawMessage `json:"timestamp"`
	V         json.RawMessage `json:"v"`
}

// jsonItems is an envelope's "samples": whether the key was there (an
// array or null: an envelope, maybe of no sample) and its items. It is a
// value, not a pointer, in jsonSampleDoc: encoding/json sets a pointer to
// nil for null without calling UnmarshalJSON.
type jsonItems struct {
	given bool
	items []json.RawMessage
}

// UnmarshalJSON implements json.Unmarshaler; encoding/json calls it for
// null too.
func (j *jsonItems) UnmarshalJSON(b []byte) error {
	j.given = true
	return json.Unmarshal(b, &j.items)
}

func (s *jsonSampleDoc) reset() {
	s.Samples.given, s.Samples.items = false, s.Samples.items[:0]
	s.Labels = s.Labels[:0]
	s.T = s.T[:0]
	s.Timestamp = s.Timestamp[:0]
	s.V = s.V[:0]
}

// jsonReason classifies a json.Unmarshal error.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return ReasonWrongType
	}
	return ReasonMalformed
}

// absent reports whether a raw JSON value is missing or null.
func absent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// forEachJSON calls fn with each top-level item of p: the elements of
// top-level arrays and every other top-level value, in order. Values may be
// separated by any whitespace (newline-delimited JSON, concatenated or
// pretty-printed objects). After the first syntax error the rest of the
// payload is taken as newline-delimited JSON: each non-blank line is one
// item (so bad lines are reported and good ones kept, in linear time).
//
// valid tells fn that the item is known to be valid JSON.
func (d *Decoder) forEachJSON(p []byte, fn func(item []byte, valid bool)) {
	emit := func(v []byte, valid bool) {
		if string(v) == "null" {
			return // json.Marshal's nil slice: a batch of nothing
		}
		if v[0] != '[' {
			fn(v, valid)
			return
		}
		top := d.json.top[:0]
		if err := json.Unmarshal(v, &top); err != nil {
			fn(v, false)
			return
		}
		d.json.top = top
		for _, it := range top {
			fn(it, true)
		}
	}
	t := bytes.TrimSpace(p)
	if len(t) == 0 {
		return
	}
	if json.Valid(t) {
		emit(t, true)
		return
	}
	var raw json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(t))
	var last int64
	for {
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			break
		}
		last = dec.InputOffset()
		emit(raw, true)
	}
	for t = t[last:]; len(t) > 0; {
		l := t
		if i := bytes.IndexByte(t, '\n'); i >= 0 {
			l, t = t[:i], t[i+1:]
		} else {
			t = nil
		}
		if l = bytes.TrimSpace(l); len(l) > 0 {
			emit(l, false)
		}
	}
}

// itemErr records an error for the current item.
func (d *Decoder) itemErr(res *Result, reason string, format string, args ...any) {
	msg := ""
	if d.detail(res) {
		msg = fmt.Sprintf(format, args...)
	}
	d.addErr(res, reason, d.json.item, msg)
}

func (d *Decoder) decodeJSONSamples(p []byte, res *Result) {
	d.json.item = 0
	d.forEachJSON(p, func(item []byte, valid bool) {
		if valid && !d.json.noFast && d.fastJSONItem(item, res) {
			return
		}
		d.slowJSONItem(item, res)
	})
}

// slowJSONItem decodes an item (envelope or sample) with encoding/json.
func (d *Decoder) slowJSONItem(item []byte, res *Result) {
	env := &d.json.env
	env.reset()
	if err := json.Unmarshal(item, env); err != nil {
		d.json.item++
		d.itemErr(res, jsonReason(err), "%v", err)
		return
	}
	if len(env.Samples.items) > 0 {
		for _, s := range env.Samples.items {
			d.json.item++
			d.slowJSONSample(s, res)
		}
		return
	}
	if absent(env.Labels) && absent(env.V) {
		if env.Samples.given {
			return // {"samples":[]} or null: a batch of no sample
		}
		d.json.item++
		d.itemErr(res, ReasonMalformed, "neither samples nor a sample")
		return
	}
	d.json.item++
	d.jsonSample(env, res)
}

// slowJSONSample decodes one sample object with encoding/json.
func (d *Decoder) slowJSONSample(s []byte, res *Result) {
	sd := &d.json.sample
	sd.reset()
	if err := json.Unmarshal(s, sd); err != nil {
		d.itemErr(res, jsonReason(err), "%v", err)
		return
	}
	d.jsonSample(sd, res)
}

// jsonSample validates one decoded sample and appends it.
func (d *Decoder) jsonSample(s *jsonSampleDoc, res *Result) {
	if absent(s.Labels) {
		d.itemErr(res, ReasonMalformed, "sample has no labels")
		return
	}
	if absent(s.V) {
		d.itemErr(res, ReasonMalformed, "sample has no value")
		return
	}
	v, reason := d.jsonValue(s.V)
	if reason != "" {
		d.itemErr(res, reason, "value %s", quote(s.V))
		return
	}
	t := d.recv
	for _, raw := range []json.RawMessage{s.Timestamp, s.T} {
		if absent(raw) {
			continue
		}
		ts, reason := d.jsonTime(raw)
		if reason != "" {
			d.itemErr(res, reason, "timestamp %s", quote(raw))
			return
		}
		t = ts
	}
	if reason := d.checkTime(t); reason != "" {
		d.itemErr(res, reason, "timestamp %s", time.UnixMilli(t).UTC().Format(time.RFC3339))
		return
	}
	d.key = append(append(d.key[:0], keyJSON), s.Labels...)
	e, ok := d.cache.get(d.key)
	if !ok {
		e = d.jsonLabels(s.Labels)
		d.cache.put(d.key, e)
	}
	if e.reason != "" {
		d.itemErr(res, e.reason, "%s", e.msg)
		return
	}
	res.Samples = append(res.Samples, telemetry.Sample{Labels: e.lset, T: t, V: v})
}

func (d *Decoder) jsonLabels(raw json.RawMessage) seriesEntry {
	if d.json.lmap == nil {
		d.json.lmap = make(map[string]string)
	}
	clear(d.json.lmap)
	if err := json.Unmarshal(raw, &d.json.lmap); err != nil {
		return seriesEntry{reason: jsonReason(err), msg: "labels: " + err.Error()}
	}
	d.pairs = d.pairs[:0]
	for k, v := range d.json.lmap {
		if k == pmodel.MetricNameLabel {
			v = sanitizeName(v, true)
		}
		d.pairs = append(d.pairs, labels.Label{Name: k, Value: v})
	}
	lset, reason, msg := d.finishLabels(true, true)
	return seriesEntry{lset: lset, reason: reason, msg: msg}
}

// jsonValue parses a sample value: a number, a string holding a number
// ("NaN", "+Inf" and "-Inf" included, as Prometheus' JSON writes them), or
// "stale". A number beyond the float64 range is ReasonInvalidValue.
func (d *Decoder) jsonValue(raw json.RawMessage) (float64, string) {
	var v float64
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &d.json.str); err != nil {
			return 0, ReasonMalformed
		}
		if d.json.str == "stale" {
			return math.Float64frombits(value.StaleNaN), ""
		}
		f, err := strconv.ParseFloat(d.json.str, 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, ReasonInvalidValue
		}
		if err != nil {
			return 0, ReasonWrongType
		}
		v = f
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		f, err := strconv.ParseFloat(string(raw), 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, ReasonInvalidValue
		}
		if err != nil {
			return 0, ReasonMalformed
		}
		v = f
	default:
		return 0, ReasonWrongType
	}
	return v, ""
}

// jsonTime parses a time: milliseconds since the epoch as a number, or an
// RFC 3339 string.
func (d *Decoder) jsonTime(raw json.RawMessage) (int64, string) {
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &d.json.str); err != nil {
			return 0, ReasonMalformed
		}
		tm, err := time.Parse(time.RFC3339Nano, d.json.str)
		if err != nil {
			return 0, ReasonMalformed
		}
		return tm.UnixMilli(), ""
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if ms, ok := parseInt64(raw); ok {
			return ms, ""
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, ReasonMalformed
		}
		if math.IsNaN(f) || f >= math.MaxInt64 || f <= math.MinInt64 {
			return 0, ReasonInvalidValue
		}
		return int64(f), ""
	}
	return 0, ReasonWrongType
}
