package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCausesNullAsList: an explanation stored with "metrics": null (no
// group raised the prediction) is served with [] (openapi.json declares an
// array; explain-now answered null).
func TestCausesNullAsList(t *testing.T) {
	x, err := DecodeExplanation([]byte(`{"prediction_id":"a@1","causes":{"metrics":null,"entities":null}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"causes":{"metrics":[],"entities":[]}`) {
		t.Errorf("explanation %s, want causes {\"metrics\":[],\"entities\":[]}", b)
	}
}
