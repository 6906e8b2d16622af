package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/omen-sre/omen/alert"
)

// TestFromAlertFiredProbability: the API states the probability of the
// prediction an alert fired on (fired_probability, prediction_id's) apart
// from the newest one (probability).
func TestFromAlertFiredProbability(t *testing.T) {
	x := FromAlert(alert.Alert{Fingerprint: "f", State: "firing", PredictionID: "e@1",
		FiredProbability: 0.9951, Probability: 0.955, Threshold: 0.9947})
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"prediction_id":"e@1"`, `"fired_probability":0.9951`, `"probability":0.955`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("%s does not contain %s", b, w)
		}
	}
}
