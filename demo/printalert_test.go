package demo

import (
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/app"
)

// TestPrintAlertProbability: the printed probability has the alert's
// annotation digits, so it never reads below the threshold printed with
// 3 decimals after training (it printed p=0.99 after "threshold 0.993").
func TestPrintAlertProbability(t *testing.T) {
	for _, tc := range []struct {
		a    app.FiredAlert
		want string
	}{
		{app.FiredAlert{Entity: "boutique/cart-1", Prob: 0.99348, Annotations: map[string]string{"probability": "0.99348"}}, "p=0.99348 "},
		{app.FiredAlert{Entity: "boutique/cart-1", Prob: 0.9934}, "p=0.993 "},
		// The severity (the demo sets a critical probability above the
		// threshold, so that both show).
		{app.FiredAlert{Entity: "boutique/cart-1", Prob: 0.9934, Labels: map[string]string{"severity": "warning"}}, "p=0.993 (warning) "},
	} {
		var b strings.Builder
		tc.a.T = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
		printAlert(&b, tc.a, nil)
		if !strings.Contains(b.String(), "ALERT boutique/cart-1  "+tc.want) {
			t.Errorf("printed %q, want %q", b.String(), tc.want)
		}
	}
}
