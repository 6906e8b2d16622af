package api_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
)

// TestWriteTableUnexplained: an explanation stored without attributions
// (Error set) prints its header and the error, not a zero baseline line
// and an empty table.
func TestWriteTableUnexplained(t *testing.T) {
	x := api.Explanation{PredictionID: "shop/cart-1@1764000000000", Entity: "shop/cart-1", T: 1764000000000,
		Probability: 0.9, Threshold: 0.5, ModelVersion: "v1", AlertFingerprint: "0123456789abcdef",
		Error: "no explanation: no model loaded"}
	var b bytes.Buffer
	if err := api.WriteTable(&b, x, 10); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"prediction shop/cart-1@1764000000000", "alert 0123456789abcdef", "P(failure) 0.900",
		"no explanation: no model loaded", "omen explain shop/cart-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"baseline", "GROUP", "evaluations"} {
		if strings.Contains(out, not) {
			t.Errorf("output has %q:\n%s", not, out)
		}
	}
}
