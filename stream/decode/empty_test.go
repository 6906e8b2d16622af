package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/prometheus/prometheus/model/textparse"
)

// TestDecodeEmptyBatch: a well-formed payload of no sample or event (an
// empty or blank one, comment or metadata lines only, an empty JSON batch)
// decodes without error and without an Error, so that the NATS consumer
// acknowledges it rather than dead-lettering it; what only looks empty (an
// object that is neither a batch nor a sample, a null item in a batch, a
// "samples" that is no array) stays malformed.
func TestDecodeEmptyBatch(t *testing.T) {
	all := []Format{FormatInflux, FormatPromText, FormatJSON, FormatKubernetesEvents, FormatModuleEvents, FormatEvents}
	jsonFormats := []Format{FormatJSON, FormatKubernetesEvents, FormatModuleEvents, FormatEvents}
	eventFormats := []Format{FormatKubernetesEvents, FormatModuleEvents, FormatEvents}
	for _, tc := range []struct {
		name    string
		formats []Format
		in      string
		reason  string // "": an empty batch
	}{
		{"empty", all, "", ""},
		{"blank", all, " \n\t\r\n  \n", ""},
		{"influx comments", []Format{FormatInflux}, "# nothing to report\n\n  # indented\r\n", ""},
		{"prometheus metadata without samples", []Format{FormatPromText}, "# HELP m A counter vector without children.\n# TYPE m counter\n", ""},
		{"empty array", jsonFormats, "[]", ""},
		{"null: json.Marshal of a nil slice", jsonFormats, "null", ""},
		{"newline-delimited empty batches", jsonFormats, "[]\n null \n[ ]\n", ""},
		{"empty samples envelope", []Format{FormatJSON}, `{"samples":[]}`, ""},
		{"null samples envelope", []Format{FormatJSON}, `{"samples":null}`, ""},
		{"samples envelope in other case", []Format{FormatJSON}, `{"Samples":[]}`, ""},
		{"empty EventList", eventFormats, `{"apiVersion":"v1","kind":"List","items":[],"metadata":{"resourceVersion":""}}`, ""},
		{"null items", eventFormats, `{"kind":"EventList","items":null}`, ""},
		{"empty events envelope", eventFormats, `{"events":[]}`, ""},

		{"influx line without fields", []Format{FormatInflux}, "m,a=b\n", ReasonMalformed},
		{"prometheus garbage", []Format{FormatPromText}, "# TYPE m nonsense\n", ReasonMalformed},
		{"prometheus NUL", []Format{FormatPromText}, "\x00", ReasonMalformed},
		{"empty object", []Format{FormatJSON}, "{}", ReasonMalformed},
		{"null item of a batch", []Format{FormatJSON}, "[null]", ReasonMalformed},
		{"samples not an array", []Format{FormatJSON}, `{"samples":"none"}`, ReasonWrongType},
		{"nested empty array", []Format{FormatJSON}, "[[]]", ReasonWrongType},
		{"truncated", jsonFormats, "[", ReasonMalformed},
		{"empty event object", eventFormats, "{}", ReasonMalformed},
	} {
		for _, f := range tc.formats {
			t.Run(tc.name+"/"+string(f), func(t *testing.T) {
				for _, slow := range []bool{false, true} {
					d := newDecoder(t, Options{})
					d.json.noFast = slow
					res, err := decodeAll(t, d, f, tc.in)
					if len(res.Samples) != 0 || len(res.Events) != 0 {
						t.Fatalf("decoded %v %v from %q", fmtSamples(res.Samples), res.Events, tc.in)
					}
					if tc.reason == "" {
						if err != nil || len(res.Errors) != 0 {
							t.Fatalf("Decode(%q) = %v, errors %v; want an empty batch: nil, no error", tc.in, err, res.Errors)
						}
						continue
					}
					if e, ok := AsError(err); !ok || e.Reason != tc.reason {
						t.Fatalf("Decode(%q) = %v, want a %s error", tc.in, err, tc.reason)
					}
				}
			})
		}
	}
}

// emptyPayload reports whether payload, which decoded to nothing and no
// Error, is a well-formed empty batch of format f: every line blank or a
// comment (influx, Prometheus text), or every JSON value null, an empty
// array or an object whose batch key (samples; items or events) is null
// or an empty array. fuzzDecode checks it, so that a bad payload the
// decoders fail to report is not acknowledged as empty.
func emptyPayload(f Format, payload []byte) bool {
	switch f {
	case FormatPromText:
		if promMetadataOnly(payload) {
			return true
		}
		fallthrough
	case FormatInflux, FormatOpenMetrics:
		for l := range bytes.SplitSeq(payload, []byte("\n")) {
			if l = bytes.TrimSpace(l); len(l) > 0 && l[0] != '#' {
				return false
			}
		}
		return true
	}
	keys := []string{"items", "events"}
	if f == FormatJSON {
		keys = []string{"samples"}
	}
	// The decoders trim what bytes.TrimSpace does around values (a
	// vertical tab, U+0085, U+00A0), which JSON does not take for space.
	dec := json.NewDecoder(strings.NewReader(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, string(payload))))
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
		switch v := v.(type) {
		case nil:
		case []any:
			if len(v) > 0 {
				return false
			}
		case map[string]any:
			batch := false
			for k, x := range v {
				for _, want := range keys {
					if strings.EqualFold(k, want) {
						if a, ok := x.([]any); x == nil || ok && len(a) == 0 {
							batch = true
						}
					}
				}
			}
			if !batch {
				return false
			}
		default:
			return false
		}
	}
}

// promMetadataOnly reports whether Prometheus's parser reads payload to
// its end without a sample and without an error (HELP and TYPE lines of
// quoted names spanning lines).
func promMetadataOnly(payload []byte) bool {
	if bytes.IndexByte(payload, 0) >= 0 {
		return false // a NUL may end the parser's input early
	}
	p := textparse.NewPromParser(append(slices.Clip(payload), '\n'), nil, false)
	for {
		e, err := p.Next()
		switch {
		case errors.Is(err, io.EOF):
			return true
		case err != nil, e == textparse.EntrySeries:
			return false
		}
	}
}
