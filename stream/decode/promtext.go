package decode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unsafe"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/omen-sre/omen/telemetry"
)

// decodePromText parses the whole payload with one Prometheus text parser.
// The parser stops at the first syntax error; then the samples of this
// payload are discarded and it is parsed again line by line, so that every
// good line is kept and every bad line reported. A payload with a NUL byte
// is parsed line by line at once: the parser takes a NUL starting a line
// for the end of its input, which dropped the lines after it unreported
// (and took a payload starting with one for an empty batch); such a line,
// neither a comment nor a sample, is malformed.
//
// With om, p is OpenMetrics text, parsed with Prometheus' OpenMetrics
// parser: timestamps are seconds (fractional allowed), which it turns
// into milliseconds (the Prometheus text parser would take 1700000000
// for milliseconds, a time in 1970, and refuse 1700000000.5). The
// "# EOF" line OpenMetrics ends with may be missing (a bridge that cut
// it); each line parsed alone is given one.
func (d *Decoder) decodePromText(p []byte, om bool, res *Result) {
	nSamples, nErrors := len(res.Samples), len(res.Errors)
	if bytes.IndexByte(p, 0) < 0 && d.promPass(p, 1, om, res) {
		return
	}
	clear(res.Samples[nSamples:])
	res.Samples = res.Samples[:nSamples]
	res.Errors = res.Errors[:nErrors]
	line := 1
	for start := 0; start < len(p); line++ {
		end := bytes.IndexByte(p[start:], '\n')
		if end < 0 {
			end = len(p)
		} else {
			end += start
		}
		if l := p[start:end]; len(bytes.TrimSpace(l)) > 0 && (!om || !isOMEOF(l)) {
			ns, ne := len(res.Samples), len(res.Errors)
			if d.promPass(l, line, om, res) && len(res.Samples) == ns && len(res.Errors) == ne && bytes.TrimSpace(l)[0] != '#' {
				msg := ""
				if d.detail(res) {
					msg = "neither a sample nor a comment: " + quote(l)
				}
				d.addErr(res, ReasonMalformed, line, msg)
			}
		}
		start = end + 1
	}
}

// promPass parses p, whose first line is line firstLine of the payload. It
// reports false on a syntax error, which it records only when p is a single
// line (firstLine is then exact). With om, p is OpenMetrics text.
func (d *Decoder) promPass(p []byte, firstLine int, om bool, res *Result) bool {
	// The parser appends a newline when p lacks one; make sure it cannot
	// write into the caller's spare capacity.
	p = p[:len(p):len(p)]
	nLines := bytes.Count(p, []byte{'\n'})
	if len(p) > 0 && p[len(p)-1] != '\n' {
		d.json.buf = append(append(d.json.buf[:0], p...), '\n')
		p = d.json.buf
		nLines++
	}
	var parser textparse.Parser
	if om {
		if !omEnds(p) {
			d.json.buf = append(append(d.json.buf[:0], p...), "# EOF\n"...)
			p = d.json.buf
		}
		parser = textparse.NewOpenMetricsParser(p, nil)
	} else {
		parser = textparse.NewPromParser(p, nil, false)
	}
	base := unsafe.Pointer(unsafe.SliceData(p))
	line, lineOff := firstLine, 0
	var lset labels.Labels
	for {
		entry, err := parser.Next()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			if nLines <= 1 {
				msg := ""
				if d.detail(res) {
					msg = err.Error()
				}
				d.addErr(res, ReasonMalformed, firstLine, msg)
			}
			return false
		}
		if entry != textparse.EntrySeries {
			continue
		}
		series, ts, v := parser.Series()
		// Line of this sample: series aliases p.
		if off := int(uintptr(unsafe.Pointer(unsafe.SliceData(series))) - uintptr(base)); off >= lineOff && off <= len(p) {
			line += bytes.Count(p[lineOff:off], []byte{'\n'})
			lineOff = off
		}
		t := d.recv
		if ts != nil {
			t = *ts
		}
		// NaN (a summary quantile without observations) and ±Inf are
		// values of the format, kept as Prometheus keeps them.
		if reason := d.checkTime(t); reason != "" {
			msg := ""
			if d.detail(res) {
				msg = fmt.Sprintf("timestamp %d of %s", t, quote(series))
			}
			d.addErr(res, reason, line, msg)
			continue
		}
		d.key = append(append(d.key[:0], keyProm), series...)
		e, ok := d.cache.get(d.key)
		if !ok {
			parser.Labels(&lset)
			d.pairs = d.pairs[:0]
			lset.Range(func(l labels.Label) {
				if l.Name == pmodel.MetricNameLabel {
					l.Value = sanitizeName(l.Value, true)
				}
				d.pairs = append(d.pairs, l)
			})
			e.lset, e.reason, e.msg = d.finishLabels(true, true)
			d.cache.put(d.key, e)
		}
		if e.reason != "" {
			msg := ""
			if d.detail(res) {
				msg = e.msg
			}
			d.addErr(res, e.reason, line, msg)
			continue
		}
		res.Samples = append(res.Samples, telemetry.Sample{Labels: e.lset, T: t, V: v})
	}
}

// omEnds reports whether OpenMetrics text p (ending with a newline) ends
// with its "# EOF" line.
func omEnds(p []byte) bool {
	p = bytes.TrimRight(p, "\n")
	i := bytes.LastIndexByte(p, '\n')
	return isOMEOF(p[i+1:])
}

// isOMEOF reports whether line is OpenMetrics' "# EOF".
func isOMEOF(line []byte) bool {
	return string(bytes.TrimRight(line, "\r")) == "# EOF"
}
