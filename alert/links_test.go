package alert

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// recExplainer records the predictions it explains.
type recExplainer struct {
	mu  sync.Mutex
	got []Prediction
}

func (r *recExplainer) Explain(ctx context.Context, p Prediction) (Explanation, error) {
	r.mu.Lock()
	r.got = append(r.got, p)
	r.mu.Unlock()
	return fakeExplainer{}.Explain(ctx, p)
}

// TestAlertKeepsFiredPrediction: an alert reports the prediction it fired
// on (whose explanation is stored) at every later step and after a
// restart, not the newest one (which has no explanation), and the
// explainer learns the alert's fingerprint.
func TestAlertKeepsFiredPrediction(t *testing.T) {
	st := openStore(t, t.TempDir())
	ex := &recExplainer{}
	o := testOptions(st)
	o.Explainer = ex
	t0 := time.Unix(1764000000, 0)
	var clk stepClock
	clk.use(&o, t0)
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	var firedID string
	for i := 0; i < 6; i++ {
		ts := t0.Add(time.Duration(i) * time.Minute)
		p := pred("p", ts, 0.8)
		if i == 1 {
			firedID = p.ID
		}
		clk.set(ts)
		if err := m.Process(context.Background(), ts, []Prediction{p}); err != nil {
			t.Fatal(err)
		}
	}
	as := m.Alerts()
	if len(as) != 1 || as[0].PredictionID != firedID {
		t.Fatalf("alerts %+v, want prediction %s (fire time)", as, firedID)
	}
	if len(ex.got) != 1 || ex.got[0].ID != firedID || ex.got[0].AlertFingerprint != as[0].Fingerprint {
		t.Fatalf("explained %+v, want %s with fingerprint %s", ex.got, firedID, as[0].Fingerprint)
	}
	m.Close()

	m2, err := New(testOptions(st))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if as := m2.Alerts(); len(as) != 1 || as[0].PredictionID != firedID {
		t.Fatalf("after restart: %+v, want prediction %s", as, firedID)
	}

	// A state persisted before fired_id existed falls back to the newest
	// prediction.
	sts, err := st.AlertStates()
	if err != nil || len(sts) != 1 {
		t.Fatal(sts, err)
	}
	var d map[string]any
	if err := json.Unmarshal(sts[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	delete(d, "fired_id")
	sts[0].Data, _ = json.Marshal(d)
	if err := st.PutAlertState(sts[0]); err != nil {
		t.Fatal(err)
	}
	m3, err := New(testOptions(st))
	if err != nil {
		t.Fatal(err)
	}
	defer m3.Close()
	if as := m3.Alerts(); len(as) != 1 || as[0].PredictionID != store.PredictionID("p", t0.Add(5*time.Minute).UnixMilli()) {
		t.Fatalf("old state: %+v", as)
	}
}
