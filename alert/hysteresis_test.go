package alert

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// absent marks a step without a prediction.
const absent = -1.0

func TestHysteresisStep(t *testing.T) {
	// Threshold 0.7, resolve ratio 0.8 → resolve below 0.56.
	tests := []struct {
		name    string
		forN    int
		missing int
		probs   []float64
		want    string // transitions, one letter per step: . none, p pending, F fired, R resolved, D dropped
		final   string
	}{
		{"fires after for steps", 2, 3, []float64{0.8, 0.9}, "pF", store.AlertFiring},
		{"for 1 fires at once", 1, 3, []float64{0.75}, "F", store.AlertFiring},
		{"for 3", 3, 3, []float64{0.7, 0.71, 0.72}, "p.F", store.AlertFiring},
		{"exactly the threshold counts", 2, 3, []float64{0.7, 0.7}, "pF", store.AlertFiring},
		{"a dip resets pending", 3, 3, []float64{0.8, 0.8, 0.69, 0.8, 0.8}, "p.Dp.", store.AlertPending},
		{"stays firing between thresholds", 1, 3, []float64{0.9, 0.6, 0.57, 0.56}, "F...", store.AlertFiring},
		{"resolves below ratio × threshold", 1, 3, []float64{0.9, 0.6, 0.55}, "F.R", store.AlertResolved},
		{"resolved does not refire on one step", 2, 3, []float64{0.9, 0.9, 0.1, 0.8}, "pFR.", store.AlertResolved},
		{"resolved refires after for steps", 2, 3, []float64{0.9, 0.9, 0.1, 0.8, 0.8}, "pFR.F", store.AlertFiring},
		{"absent firing entity resolves after missing steps", 1, 2, []float64{0.9, absent, absent, absent}, "F..R", store.AlertResolved},
		{"absence shorter than missing steps keeps firing", 1, 2, []float64{0.9, absent, absent, 0.9}, "F...", store.AlertFiring},
		{"absent pending entity is dropped", 2, 1, []float64{0.9, absent, absent}, "p.D", ""},
		{"NaN counts as absent", 1, 1, []float64{0.9, math.NaN(), math.NaN()}, "F.R", store.AlertResolved},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := hysteresis{For: tc.forN, ResolveRatio: 0.8, MissingSteps: tc.missing}
			s := &entityState{Entity: "e"}
			t0 := time.Unix(1e9, 0)
			var got strings.Builder
			var firedAt, resolvedAt time.Time
			for i, pr := range tc.probs {
				ts := t0.Add(time.Duration(i) * time.Minute)
				var p *Prediction
				if pr != absent && !math.IsNaN(pr) {
					q := pred("e", ts, pr)
					p = &q
				}
				tr := h.step(s, p, ts)
				got.WriteByte(".pFRD"[tr])
				switch tr {
				case trFired:
					firedAt = ts
				case trResolved:
					resolvedAt = ts
				}
			}
			if got.String() != tc.want {
				t.Errorf("transitions %q, want %q", got.String(), tc.want)
			}
			if s.State != tc.final {
				t.Errorf("final state %q, want %q", s.State, tc.final)
			}
			if !firedAt.IsZero() && !s.ActiveAt.Equal(firedAt) {
				t.Errorf("ActiveAt %v, want %v", s.ActiveAt, firedAt)
			}
			if s.State == store.AlertResolved && !s.ResolvedAt.Equal(resolvedAt) {
				t.Errorf("ResolvedAt %v, want %v", s.ResolvedAt, resolvedAt)
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	st := openStore(t, "")
	tests := []struct {
		name string
		mod  func(*Options)
		want string // substring of the error; "" means valid
	}{
		{"defaults", func(o *Options) {}, ""},
		{"no store", func(o *Options) { o.Store = nil }, "Store is required"},
		{"bad ratio", func(o *Options) { o.ResolveRatio = 1.5 }, "resolve ratio"},
		{"bad for", func(o *Options) { o.For = -1 }, "for must be"},
		{"bad resolve for", func(o *Options) { o.ResolveFor = -1 }, "resolve for must be at least 1 step, got -1"},
		{"relative external URL", func(o *Options) { o.ExternalURL = "omen:9090" }, "external URL"},
		{"bad alertmanager", func(o *Options) { o.Alertmanagers = []string{"127.0.0.1:9093"} }, "alertmanager 0"},
		{"duplicate alertmanager", func(o *Options) { o.Alertmanagers = []string{"http://a:1", "http://a:1/"} }, "listed twice"},
		{"alertmanagers shown the same", func(o *Options) { o.Alertmanagers = []string{"http://u:s3cretA@a:1", "http://u:s3cretB@a:1"} }, `alertmanager "http://u:xxxxx@a:1" listed twice`},
		{"backoff order", func(o *Options) { o.MinBackoff, o.MaxBackoff = time.Second, time.Millisecond }, "max backoff"},
		{"bad remediation glob", func(o *Options) { o.Remediations = []Remediation{{Cause: "[", Action: "x"}} }, "cause pattern"},
		{"remediation without action", func(o *Options) { o.Remediations = []Remediation{{Cause: "x"}} }, "required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Store: st}
			tc.mod(&o)
			m, err := New(o)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				m.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
