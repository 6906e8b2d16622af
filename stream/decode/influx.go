package decode

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/internal/intmath"
	"github.com/omen-sre/omen/telemetry"
)

// influxField is one parsed field of the current line.
type influxField struct {
	key    []byte // raw (escaped) key, aliasing the payload
	raw    []byte // raw value, for messages
	v      float64
	reason string // non-empty: the field yields no sample for this reason
	later  bool   // a later field of the line has the same key (it wins)
}

// MaxInfluxFields is the default of Options.MaxInfluxFields, the most
// fields one influx line may have: a longer line is rejected as
// malformed. Telegraf's widest inputs (e.g. procstat, net) write well
// under 100; the bound keeps one hostile line (a 1 MiB line holds ~116k
// fields) from costing more than a bounded amount of work.
const MaxInfluxFields = 1024

// markLaterFields sets later on every field whose key a later field of fs
// repeats (the last value wins, as in InfluxDB). Lines of a few fields
// compare pairwise; longer ones use seen, so the cost is linear.
func markLaterFields(fs []influxField, seen map[string]struct{}) {
	if len(fs) <= 32 {
		for k := range fs {
			for j := k + 1; j < len(fs); j++ {
				if bytes.Equal(fs[j].key, fs[k].key) {
					fs[k].later = true
					break
				}
			}
		}
		return
	}
	clear(seen)
	for k := len(fs) - 1; k >= 0; k-- {
		if _, ok := seen[string(fs[k].key)]; ok {
			fs[k].later = true
			continue
		}
		seen[string(fs[k].key)] = struct{}{}
	}
}

// eol reports whether p[i:] starts with the end of a line: end of input,
// "\n", or "\r" followed by either.
func eol(p []byte, i int) bool {
	return i >= len(p) || p[i] == '\n' || p[i] == '\r' && (i+1 >= len(p) || p[i+1] == '\n')
}

// skipLine returns the index of the next '\n' at or after i (or len(p)).
func skipLine(p []byte, i int) int {
	for i < len(p) && p[i] != '\n' {
		i++
	}
	return i
}

func (d *Decoder) decodeInflux(p []byte, res *Result) {
	line := 1
	for i := 0; i < len(p); {
		switch p[i] {
		case '\n':
			line++
			i++
			continue
		case ' ', '\t', '\r':
			i++
			continue
		case '#':
			i = skipLine(p, i)
			continue
		}
		end, nl := d.influxLine(p, i, line, res)
		line += nl
		i = end
	}
}

// influxLine decodes the line starting at p[i]. It returns the index of the
// line's terminating '\n' (or len(p)) and the number of newlines inside
// string fields it crossed.
func (d *Decoder) influxLine(p []byte, i, line int, res *Result) (end, nl int) {
	n := len(p)
	// bad records a malformed line; the message (why, then raw quoted when
	// not nil) is only built for detailed errors.
	bad := func(at int, why string, raw []byte) (int, int) {
		msg := ""
		if d.detail(res) {
			msg = why
			if raw != nil {
				msg += ": " + quote(raw)
			}
		}
		d.addErr(res, ReasonMalformed, line, msg)
		return skipLine(p, at), nl
	}

	// Series key: measurement and tags, up to the first unescaped space.
	start := i
	i = seriesKeyEnd(p, i)
	if i >= n || p[i] != ' ' {
		return bad(i, "line has no fields", p[start:min(i, n)])
	}
	sk := p[start:i]
	for i < n && p[i] == ' ' {
		i++
	}

	// Fields.
	fs := d.fields[:0]
	for {
		ks := i
		for i < n {
			c := p[i]
			if c == '\\' && i+1 < n && p[i+1] != '\n' {
				i += 2
				continue
			}
			if c == '=' || c == ' ' || c == ',' || c == '\n' {
				break
			}
			i++
		}
		if i >= n || p[i] != '=' {
			return bad(i, "field without value", p[ks:min(i, n)])
		}
		if i == ks {
			return bad(i, "empty field key", nil)
		}
		f := influxField{key: p[ks:i]}
		i++
		if i < n && p[i] == '"' {
			vs := i
			i++
			for i < n && p[i] != '"' {
				if p[i] == '\\' && i+1 < n {
					if p[i+1] == '\n' {
						nl++
					}
					i += 2
					continue
				}
				if p[i] == '\n' {
					nl++
				}
				i++
			}
			if i >= n {
				return bad(i, "unterminated string field", nil)
			}
			i++
			f.raw = p[vs:i]
			f.reason = ReasonStringField
			if !eol(p, i) && p[i] != ',' && p[i] != ' ' {
				return bad(i, "garbage after string field", nil)
			}
		} else {
			vs := i
			for i < n && p[i] != ',' && p[i] != ' ' && !eol(p, i) {
				i++
			}
			f.raw = p[vs:i]
			if len(f.raw) == 0 {
				return bad(i, "empty value of field", f.key)
			}
			var reason string
			f.v, reason = parseInfluxValue(f.raw)
			switch reason {
			case "":
			case ReasonMalformed:
				return bad(i, "invalid field value", f.raw)
			default:
				f.reason = reason
			}
		}
		if len(fs) == d.opts.MaxInfluxFields {
			d.fields = fs
			return bad(i, fmt.Sprintf("more than %d fields", d.opts.MaxInfluxFields), nil)
		}
		fs = append(fs, f)
		if i < n && p[i] == ',' {
			i++
			continue
		}
		break
	}
	d.fields = fs

	// Optional timestamp.
	for i < n && p[i] == ' ' {
		i++
	}
	t := d.recv
	if !eol(p, i) {
		ts := i
		for i < n && p[i] != ' ' && !eol(p, i) {
			i++
		}
		v, ok := parseInt64(p[ts:i])
		if !ok {
			return bad(i, "invalid timestamp", p[ts:i])
		}
		for i < n && p[i] == ' ' {
			i++
		}
		if !eol(p, i) {
			return bad(i, "garbage after timestamp", p[i:skipLine(p, i)])
		}
		t = d.influxMillis(v)
	}
	end = skipLine(p, i)

	if d.seenFields == nil && len(fs) > 32 {
		d.seenFields = make(map[string]struct{}, len(fs))
	}
	markLaterFields(fs, d.seenFields)
	timeReason := d.checkTime(t)
	var le *lineEntry // the series key's fields, looked up at the first sample
	var tagsParsed, tagsOK bool
	var tagsBad seriesEntry
	for k := range fs {
		f := &fs[k]
		if f.later {
			continue // a repeated field key: the last value wins, as in InfluxDB
		}
		if timeReason != "" {
			msg := ""
			if d.detail(res) {
				msg = fmt.Sprintf("timestamp %s of field %s", time.UnixMilli(t).UTC().Format(time.RFC3339), quote(f.key))
			}
			d.addErr(res, timeReason, line, msg)
			continue
		}
		if f.reason != "" {
			msg := ""
			if d.detail(res) {
				msg = fmt.Sprintf("field %s value %s", quote(f.key), quote(f.raw))
			}
			d.addErr(res, f.reason, line, msg)
			continue
		}
		if le == nil {
			le = d.lines.get(sk)
		}
		e, ok := le.lookup(k, f.key)
		if !ok {
			// A new series: the tags are parsed once per line.
			if !tagsParsed {
				tagsBad, tagsOK = d.influxTags(sk)
				tagsParsed = true
			}
			e = tagsBad
			if tagsOK {
				e = d.influxSeries(f.key)
			}
			le.add(&d.lines, f.key, e, len(fs))
		}
		if e.reason != "" {
			msg := ""
			if d.detail(res) {
				msg = e.msg
			}
			d.addErr(res, e.reason, line, msg)
			continue
		}
		res.Samples = append(res.Samples, telemetry.Sample{Labels: e.lset, T: t, V: f.v})
	}
	return end, nl
}

// seriesKeyEnd returns the index of the first unescaped space or newline
// at or after i (or len(p)). A backslash escapes the next byte unless that
// byte is a newline. Most keys hold no backslash before their end, so the
// space is found with bytes.IndexByte.
func seriesKeyEnd(p []byte, i int) int {
	if j := bytes.IndexByte(p[i:], ' '); j >= 0 {
		sp := i + j
		if bytes.IndexByte(p[i:sp], '\n') < 0 && bytes.IndexByte(p[i:sp], '\\') < 0 {
			return sp
		}
	}
	n := len(p)
	for i < n {
		c := p[i]
		if c == '\\' && i+1 < n && p[i+1] != '\n' {
			i += 2
			continue
		}
		if c == ' ' || c == '\n' {
			break
		}
		i++
	}
	return i
}

// influxMillis converts a line protocol timestamp to milliseconds,
// saturating on overflow.
func (d *Decoder) influxMillis(v int64) int64 {
	switch d.opts.Precision {
	case time.Nanosecond:
		return intmath.FloorDiv(v, 1e6)
	case time.Microsecond:
		return intmath.FloorDiv(v, 1e3)
	case time.Second:
		switch {
		case v > maxInt64/1000:
			return maxInt64
		case v < minInt64/1000:
			return minInt64
		}
		return v * 1000
	}
	return v
}

// influxTags parses series key sk (escaped) into d.meas and d.tags,
// unescaped. On a malformed key it returns the rejection and false.
func (d *Decoder) influxTags(sk []byte) (seriesEntry, bool) {
	i := 0
	for i < len(sk) && sk[i] != ',' {
		if sk[i] == '\\' && i+1 < len(sk) {
			i++
		}
		i++
	}
	d.meas = unescape(sk[:min(i, len(sk))], ", \\")
	if d.meas == "" {
		return seriesEntry{reason: ReasonMalformed, msg: "empty measurement"}, false
	}
	d.tags = d.tags[:0]
	for i < len(sk) {
		i++ // ','
		ks := i
		for i < len(sk) && sk[i] != '=' && sk[i] != ',' {
			if sk[i] == '\\' && i+1 < len(sk) {
				i++
			}
			i++
		}
		if i >= len(sk) || sk[i] != '=' {
			return seriesEntry{reason: ReasonMalformed, msg: "tag without value: " + quote(sk[ks:min(i, len(sk))])}, false
		}
		k := unescape(sk[ks:i], ",= \\")
		if k == "" {
			return seriesEntry{reason: ReasonMalformed, msg: "empty tag key"}, false
		}
		i++
		vs := i
		for i < len(sk) && sk[i] != ',' {
			if sk[i] == '\\' && i+1 < len(sk) {
				i++
			}
			i++
		}
		if i > len(sk) {
			i = len(sk)
		}
		d.tags = append(d.tags, labels.Label{Name: k, Value: unescape(sk[vs:i], ",= \\")})
	}
	return seriesEntry{}, true
}

// influxSeries builds the label set of field key fkey (escaped) of the
// series key last parsed by influxTags.
func (d *Decoder) influxSeries(fkey []byte) seriesEntry {
	meas := d.meas
	field := unescape(fkey, ",= \\")
	var name string
	switch {
	case meas == "prometheus":
		name = field
	case field == "value":
		name = meas
	default:
		name = meas + "_" + field
	}
	name = sanitizeName(name, true)
	if name == "" {
		return seriesEntry{reason: ReasonMalformed, msg: fmt.Sprintf("no valid metric name from measurement %q and field %q", meas, field)}
	}
	d.pairs = append(d.pairs[:0], d.tags...)
	d.pairs = append(d.pairs, labels.Label{Name: pmodel.MetricNameLabel, Value: name})
	lset, reason, msg := d.finishLabels(true, true)
	return seriesEntry{lset: lset, reason: reason, msg: msg}
}

// unescape removes backslashes before the bytes in special.
func unescape(b []byte, special string) string {
	if !strings.Contains(string(b), `\`) {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) && strings.IndexByte(special, b[i+1]) >= 0 {
			i++
		}
		out = append(out, b[i])
	}
	return string(out)
}

// parseInfluxValue parses a non-string field value. The reason is
// ReasonMalformed for syntax errors, ReasonInvalidValue for NaN, ±Inf
// (which the line protocol has no syntax for: InfluxDB refuses them and
// Telegraf's serializer skips such fields) and out-of-range numbers.
func parseInfluxValue(b []byte) (float64, string) {
	switch string(b) {
	case "t", "T", "true", "True", "TRUE":
		return 1, ""
	case "f", "F", "false", "False", "FALSE":
		return 0, ""
	}
	switch b[len(b)-1] {
	case 'i':
		digits := b[:len(b)-1]
		v, ok := parseInt64(digits)
		if !ok {
			if isInteger(digits) {
				return 0, ReasonInvalidValue
			}
			return 0, ReasonMalformed
		}
		return float64(v), ""
	case 'u':
		digits := b[:len(b)-1]
		if !isInteger(digits) || digits[0] == '-' || digits[0] == '+' {
			return 0, ReasonMalformed
		}
		v, err := strconv.ParseUint(string(digits), 10, 64)
		if err != nil {
			return 0, ReasonInvalidValue
		}
		return float64(v), ""
	}
	if v, ok := parseFloatFast(b); ok {
		return v, ""
	}
	for _, c := range b {
		switch c {
		case 'x', 'X', '_', 'p', 'P':
			return 0, ReasonMalformed
		}
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, ReasonInvalidValue
		}
		return 0, ReasonMalformed
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, ReasonInvalidValue
	}
	return v, ""
}

// isInteger reports whether b is an optionally signed run of decimal digits.
func isInteger(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseInt64 parses an optionally signed decimal integer; ok is false on
// syntax errors and overflow.
func parseInt64(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		if len(b) > 19 && isInteger(b) {
			// Allow leading zeros beyond 19 digits.
			for len(b) > 19 && b[0] == '0' {
				b = b[1:]
			}
			if len(b) > 19 {
				return 0, false
			}
		} else {
			return 0, false
		}
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloatFast parses plain decimals ([-+]digits[.digits]) with at most
// 15 significant digits exactly (Clinger's fast path: an exact mantissa
// divided by an exact power of ten is correctly rounded). ok is false for
// anything else, which the caller hands to strconv.
func parseFloatFast(b []byte) (float64, bool) {
	i := 0
	neg := false
	if b[0] == '-' || b[0] == '+' {
		neg = b[0] == '-'
		i++
	}
	var mant uint64
	sig, frac := 0, 0
	digits, dot := false, false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			digits = true
			if mant != 0 || c != '0' {
				sig++
				if sig > 15 {
					return 0, false
				}
			}
			mant = mant*10 + uint64(c-'0')
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if !digits || frac >= len(pow10) {
		return 0, false
	}
	f := float64(mant)
	if frac > 0 {
		f /= pow10[frac]
	}
	if neg {
		f = -f
	}
	return f, true
}
