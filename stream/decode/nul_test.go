package decode

import (
	"strings"
	"testing"
)

// A NUL byte in a label value reached entity names, which the store
// refuses: every decoder rejects such a value as malformed.
func TestLabelValueWithNUL(t *testing.T) {
	for f, p := range map[Format]string{
		FormatInflux:       "m,namespace=shop,pod=a\x00b v=1\n",
		FormatPromText:     "m{namespace=\"shop\",pod=\"a\x00b\"} 1\n",
		FormatOpenMetrics:  "m{namespace=\"shop\",pod=\"a\x00b\"} 1\n# EOF\n",
		FormatJSON:         `{"labels":{"__name__":"m","namespace":"shop","pod":"a\u0000b"},"v":1}`,
		FormatModuleEvents: `{"reason":"ModuleLoadError","namespace":"shop","pod":"a\u0000b"}`,
		FormatEvents:       `{"reason":"ModuleLoadError","namespace":"shop","pod":"a\u0000b"}`,
	} {
		d := newDecoder(t, Options{})
		res, err := decodeAll(t, d, f, p)
		if err == nil || len(res.Samples)+len(res.Events) != 0 {
			t.Errorf("%s: accepted a NUL in a label value: %d samples %d events", f, len(res.Samples), len(res.Events))
			continue
		}
		if len(res.Errors) != 1 || res.Errors[0].Reason != ReasonMalformed || !strings.Contains(res.Errors[0].Msg, "NUL") {
			t.Errorf("%s: errors %v, want one malformed about NUL", f, res.Errors)
		}
	}
}

func TestValidLabelValue(t *testing.T) {
	for v, ok := range map[string]bool{"": true, "shop/a-1": true, "ü": true, "a\x00b": false, "\x00": false, "\xff": false} {
		if err := ValidLabelValue(v); (err == nil) != ok {
			t.Errorf("ValidLabelValue(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}
