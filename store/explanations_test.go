package store

import (
	"errors"
	"fmt"
	"testing"
)

// TestNewestExplanation: an entity's newest explanation in a span is found
// by time, not by its key's decimal text, only under one of the entity's
// stored predictions, and not under another entity whose name starts with
// the entity's and "@", nor under an alert's fingerprint.
func TestNewestExplanation(t *testing.T) {
	s := openTestMem(t)
	put := func(id string) {
		t.Helper()
		if err := s.PutExplanation(id, fmt.Appendf(nil, `{"prediction_id":%q}`, id)); err != nil {
			t.Fatal(err)
		}
	}
	var ps []Prediction
	// a@60000 is stored, unexplained: a@b@60000, a@b's, must not count
	// for a (code reviewer's finding: without the entity check the test
	// passed, the prediction check skipping it for want of a@60000).
	for _, ts := range []int64{-30000, 0, 15000, 45000, 60000, 150000} {
		ps = append(ps, Prediction{Entity: "a", T: ts, ModelVersion: "v1"})
	}
	ps = append(ps, Prediction{Entity: "a@b", T: 60000, ModelVersion: "v1"})
	if err := s.PutPredictions(ps); err != nil {
		t.Fatal(err)
	}
	for _, ts := range []int64{-30000, 15000, 45000, 150000} {
		put(PredictionID("a", ts))
	}
	put(PredictionID("a", 90000)) // no prediction stored under it
	put(PredictionID("a@b", 60000))
	put("a@0123abcd") // not a prediction id
	tests := []struct {
		entity   string
		from, to int64
		want     string // "": none
	}{
		{"a", -1e6, 1e6, "a@150000"},
		{"a", -1e6, 149999, "a@45000"},
		{"a", 46000, 149999, ""},
		{"a", -1e6, 0, "a@-30000"},
		{"a", 16000, 44999, ""},
		{"a", 45000, 45000, "a@45000"},
		{"a", 45000, 44999, ""},
		{"a@b", 0, 1e6, "a@b@60000"},
		{"b", -1e6, 1e6, ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d..%d", tc.entity, tc.from, tc.to), func(t *testing.T) {
			id, doc, err := s.NewestExplanation(tc.entity, tc.from, tc.to)
			switch {
			case tc.want == "" && !errors.Is(err, ErrNotFound):
				t.Errorf("%q, %s, %v; want ErrNotFound", id, doc, err)
			case tc.want != "" && (err != nil || id != tc.want || string(doc) != fmt.Sprintf(`{"prediction_id":%q}`, tc.want)):
				t.Errorf("%q, %s, %v; want %q", id, doc, err, tc.want)
			}
		})
	}
}
