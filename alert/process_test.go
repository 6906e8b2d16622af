package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
)

const fakeAM = "http://am.example:9093"

// pending returns the alerts waiting in the outbox for target, in order.
func pending(t *testing.T, st *store.Store, target string) [][]postableAlert {
	t.Helper()
	items, err := st.Pending(target, 0)
	if err != nil {
		t.Fatalf("pending: %v", err)
	}
	var out [][]postableAlert
	for _, it := range items {
		var as []postableAlert
		if err := json.Unmarshal(it.Payload, &as); err != nil {
			t.Fatalf("decode payload: %v", err)
		}
		out = append(out, as)
	}
	return out
}

func checkGolden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (regenerate with go test ./alert -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (regenerate with go test ./alert -update):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestGoldenAlertJSON(t *testing.T) {
	st := openStore(t, "")
	o := testOptions(st, fakeAM)
	o.For = 1
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	wall := t0
	o.Now = func() time.Time { return wall } // Alertmanager's clock, in step with the steps
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	ctx := context.Background()
	step := time.Minute
	if err := m.Process(ctx, t0, []Prediction{pred("checkout-7f9c", t0, 0.93)}); err != nil {
		t.Fatal(err)
	}
	reg := o.Registerer.(*prometheus.Registry)
	if n, err := testutil.GatherAndCount(reg, "omen_alert_cause_share"); err != nil || n != 3 {
		t.Errorf("cause metrics of a firing alert: %d, %v; want 3", n, err)
	}
	wall = t0.Add(step)
	if err := m.Process(ctx, t0.Add(step), []Prediction{pred("checkout-7f9c", t0.Add(step), 0.2)}); err != nil {
		t.Fatal(err)
	}
	got := pending(t, st, fakeAM)
	if len(got) != 2 || len(got[0]) != 1 || len(got[1]) != 1 {
		t.Fatalf("outbox holds %v, want a firing and a resolved alert", got)
	}
	checkGolden(t, "alert_firing.golden", got[0])
	checkGolden(t, "alert_resolved.golden", got[1])
	if got[0][0].Labels["severity"] != SeverityCritical {
		t.Errorf("severity %q at probability 0.93, want critical", got[0][0].Labels["severity"])
	}
	// The firing alert's causes are exported while it fires.
	if n, err := testutil.GatherAndCount(reg, "omen_alert_cause_share"); err != nil || n != 0 {
		t.Errorf("cause metrics of a resolved alert: %d, %v", n, err)
	}
	// The API view carries the explanation.
	as := m.Alerts()
	if len(as) != 1 || as[0].State != store.AlertResolved || as[0].Explanation == nil || len(as[0].Explanation.TopCauses) != 3 {
		t.Fatalf("Alerts() = %+v", as)
	}
}

// TestResendAndRetention checks Prometheus' resend semantics with an
// injected clock: firing alerts every resend delay with endsAt = t + 4 ×
// max(eval, resend), resolved ones with endsAt = resolve time for the
// resolved retention, then nothing.
func TestResendAndRetention(t *testing.T) {
	st := openStore(t, "")
	o := testOptions(st, fakeAM)
	o.For = 1
	o.ResendDelay = time.Minute
	o.EvalInterval = 30 * time.Second
	o.ResolvedRetention = 3 * time.Minute
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	wall := t0
	o.Now = func() time.Time { return wall } // Alertmanager's clock, in step with the steps
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	probs := []float64{0.8, 0.8, 0.8, 0.8, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}
	for i, p := range probs {
		ts := t0.Add(time.Duration(i) * 30 * time.Second)
		wall = ts
		if err := m.Process(context.Background(), ts, []Prediction{pred("a", ts, p)}); err != nil {
			t.Fatal(err)
		}
	}
	var sends []string
	for _, as := range pending(t, st, fakeAM) {
		a := as[0]
		sends = append(sends, a.EndsAt.Sub(t0).String())
	}
	// Fired at 0s, re-sent at 1m and 2m (endsAt = t + 4m); resolved at 2m30s,
	// re-sent at 3m30s, 4m30s, 5m30s (3m retention), then dropped.
	want := []string{"4m0s", "5m0s", "6m0s", "2m30s", "2m30s", "2m30s", "2m30s"}
	if len(sends) != len(want) {
		t.Fatalf("sends (endsAt − t0) %v, want %v", sends, want)
	}
	for i := range want {
		if sends[i] != want[i] {
			t.Fatalf("sends (endsAt − t0) %v, want %v", sends, want)
		}
	}
	if len(m.Alerts()) != 0 {
		t.Errorf("alerts after the resolved retention: %+v", m.Alerts())
	}
	if sts, _ := st.AlertStates(); len(sts) != 0 {
		t.Errorf("states after the resolved retention: %+v", sts)
	}
}

// TestRestartResumes restarts the Manager on the same on-disk store: the
// hysteresis counter, a firing alert (same startsAt) and a resolved alert
// (not re-fired) survive.
func TestRestartResumes(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	run := func(from, to int, probs map[string][]float64) {
		st, err := store.Open(store.Options{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		o := testOptions(st, fakeAM)
		o.For = 2
		o.ResendDelay = time.Hour
		m, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		for i := from; i < to; i++ {
			var ps []Prediction
			for e, pr := range probs {
				ps = append(ps, pred(e, at(i), pr[i]))
			}
			if err := m.Process(context.Background(), at(i), ps); err != nil {
				t.Fatal(err)
			}
		}
	}
	probs := map[string][]float64{
		"pending": {0.1, 0.1, 0.8, 0.8, 0.8},   // pending at step 2, fires at 3 after the restart
		"firing":  {0.8, 0.8, 0.8, 0.8, 0.8},   // fires at step 1
		"resolve": {0.8, 0.8, 0.1, 0.65, 0.65}, // fires at 1, resolves at 2, 0.65 does not re-fire
	}
	run(0, 3, probs)
	run(3, 5, probs)
	st := openStore(t, dir)
	var got []string
	for _, as := range pending(t, st, fakeAM) {
		sort.Slice(as, func(i, j int) bool { return as[i].Labels["pod"] < as[j].Labels["pod"] })
		for _, a := range as {
			state := "firing"
			if a.EndsAt.Before(a.StartsAt.Add(time.Hour)) {
				state = "resolved"
			}
			got = append(got, a.Labels["pod"]+" "+state+" "+a.StartsAt.Sub(t0).String())
		}
	}
	want := []string{"firing firing 1m0s", "resolve firing 1m0s", "resolve resolved 1m0s", "pending firing 3m0s"}
	if len(got) != len(want) {
		t.Fatalf("sent %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sent %q, want %q", got, want)
		}
	}
}

// TestDeliveryRetries checks the notifier against a scripted Alertmanager:
// 5xx and 429 are retried with backoff until accepted; a 400 is dropped and
// counted, not retried.
func TestDeliveryRetries(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	tests := []struct {
		name      string
		codes     []int // responses in order; 200 after
		wantPosts int
		wantOK    float64
		wantFail  float64
	}{
		{"accepted", nil, 1, 1, 0},
		{"5xx retried", []int{503, 500}, 3, 1, 2},
		{"429 retried", []int{429}, 2, 1, 1},
		{"400 dropped", []int{400}, 1, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var posts atomic.Int32
			var mu sync.Mutex
			codes := append([]int(nil), tc.codes...)
			srv := httptest.NewServer(answerStatus(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/v2/alerts" || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
				}
				posts.Add(1)
				mu.Lock()
				defer mu.Unlock()
				if len(codes) > 0 {
					w.WriteHeader(codes[0])
					codes = codes[1:]
				}
			}))
			t.Cleanup(srv.Close)
			st := openStore(t, "")
			o := testOptions(st, srv.URL)
			o.For = 1
			reg := prometheus.NewRegistry()
			o.Registerer = reg
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			startRun(t, m)
			now := time.Now()
			if err := m.Process(context.Background(), now, []Prediction{pred("a", now, 0.8)}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "outbox drained", func() error {
				if n := len(pending(t, st, srv.URL)); n != 0 {
					return errors.New("items pending")
				}
				return nil
			})
			time.Sleep(100 * time.Millisecond) // no further posts
			if got := int(posts.Load()); got != tc.wantPosts {
				t.Errorf("%d posts, want %d", got, tc.wantPosts)
			}
			if got := testutil.ToFloat64(m.targets[0].sent); got != tc.wantOK {
				t.Errorf("omen_notifications_total %g, want %g", got, tc.wantOK)
			}
			if got := testutil.ToFloat64(m.targets[0].failed); got != tc.wantFail {
				t.Errorf("omen_notifications_failed_total %g, want %g", got, tc.wantFail)
			}
			if got := testutil.ToFloat64(m.targets[0].queue); got != 0 {
				t.Errorf("omen_notifications_queue_length %g, want 0", got)
			}
			if got := testutil.ToFloat64(m.alertsGauge.WithLabelValues("firing")); got != 1 {
				t.Errorf("omen_alerts{state=firing} %g, want 1", got)
			}
		})
	}
}

func TestMergeKeepsNewestVersion(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(pod string, starts, ends time.Time) postableAlert {
		return postableAlert{Labels: map[string]string{"alertname": AlertName, "pod": pod}, StartsAt: starts, EndsAt: ends}
	}
	enc := func(as ...queued) []byte { b, _ := json.Marshal(as); return b }
	fir := func(a postableAlert) queued { return queued{a, false} }
	res := func(a postableAlert) queued { return queued{a, true} }
	items := []store.OutboxItem{
		{ID: 1, Payload: enc(fir(mk("a", t0, t0.Add(time.Hour))), fir(mk("b", t0, t0.Add(time.Hour))))},
		{ID: 2, Payload: []byte("not json")},
		{ID: 3, Payload: enc(fir(mk("a", t0, t0.Add(90*time.Minute))))},                           // a resent
		{ID: 4, Payload: enc(res(mk("a", t0, t0.Add(time.Minute))))},                              // a resolved
		{ID: 5, Payload: enc(res(mk("a", t0, t0.Add(time.Minute))))},                              // a resolved, resent
		{ID: 6, Payload: enc(fir(mk("a", t0.Add(time.Hour), t0.Add(2*time.Hour))))},               // a fires again
		{ID: 7, Payload: enc(fir(mk("b", t0, t0.Add(2*time.Hour))), fir(mk("c", t0, t0.Add(1))))}, // b resent
	}
	got, ids := merge(items, discard{})
	if len(ids) != 7 {
		t.Errorf("ids %v, want all 7 (undecodable ones are acknowledged too)", ids)
	}
	var desc []string
	for _, a := range got {
		desc = append(desc, a.Labels["pod"]+"@"+a.StartsAt.Sub(t0).String()+"-"+a.EndsAt.Sub(t0).String())
	}
	// a's firing versions of its first episode are superseded by its
	// resolution, which still precedes its re-firing.
	want := []string{"a@0s-1m0s", "a@1h0m0s-2h0m0s", "b@0s-2h0m0s", "c@0s-1ns"}
	if len(desc) != len(want) {
		t.Fatalf("merged %v, want %v", desc, want)
	}
	for i := range want {
		if desc[i] != want[i] {
			t.Fatalf("merged %v, want %v", desc, want)
		}
	}
}

type discard struct{}

func (discard) Error(string, ...any) {}

// TestExplainerError: an alert whose explanation fails still fires, with
// the fallback action and no causes, and the error is counted.
func TestExplainerError(t *testing.T) {
	st := openStore(t, "")
	o := testOptions(st, fakeAM)
	o.For = 1
	o.Explainer = ExplainerFunc(func(context.Context, Prediction) (Explanation, error) {
		return Explanation{}, errors.New("model unavailable")
	})
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	now := time.Now()
	if err := m.Process(context.Background(), now, []Prediction{pred("a", now, 0.8)}); err != nil {
		t.Fatal(err)
	}
	got := pending(t, st, fakeAM)
	if len(got) != 1 || len(got[0]) != 1 {
		t.Fatalf("outbox %v, want one alert", got)
	}
	a := got[0][0]
	if _, ok := a.Annotations["top_causes"]; ok || a.Annotations["recommended_action"] != fallbackAction ||
		a.Annotations["explanation_url"] != a.GeneratorURL {
		t.Errorf("annotations %v", a.Annotations)
	}
	if n := testutil.ToFloat64(m.explainErrs); n != 1 {
		t.Errorf("omen_alert_explain_errors_total %g, want 1", n)
	}
}

func TestLabelNames(t *testing.T) {
	tests := map[string]string{
		"namespace": "namespace", "app.kubernetes.io/name": "app_kubernetes_io_name",
		"9lives": "_9lives", "a-b": "a_b", "": "_", "ünï": "_n_",
	}
	for in, want := range tests {
		if got := labelName(in); got != want {
			t.Errorf("labelName(%q) = %q, want %q", in, got, want)
		}
	}
	p := Prediction{Entity: "e", Labels: map[string]string{"severity": "x", "alertname": "y", "pod": "", "topology.kubernetes.io/zone": "a"}}
	got := baseLabels(&p)
	want := map[string]string{"alertname": AlertName, "topology_kubernetes_io_zone": "a"}
	if len(got) != len(want) || got["alertname"] != want["alertname"] || got["topology_kubernetes_io_zone"] != "a" {
		t.Errorf("baseLabels = %v, want %v", got, want)
	}
	p.Labels = nil
	if got := baseLabels(&p); got["entity"] != "e" || len(got) != 2 {
		t.Errorf("baseLabels without labels = %v, want alertname and entity", got)
	}
}

// TestRejectedAlertIsIsolated: when Alertmanager rejects a POST with a 400,
// the alerts are re-sent one by one so that only the bad one is dropped.
func TestRejectedAlertIsIsolated(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	var mu sync.Mutex
	var accepted []string
	srv := httptest.NewServer(answerStatus(func(w http.ResponseWriter, r *http.Request) {
		var as []postableAlert
		if err := json.NewDecoder(r.Body).Decode(&as); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, a := range as {
			if a.Labels["pod"] == "bad" {
				http.Error(w, "invalid alert", http.StatusBadRequest)
				return
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, a := range as {
			accepted = append(accepted, a.Labels["pod"])
		}
	}))
	t.Cleanup(srv.Close)
	st := openStore(t, "")
	o := testOptions(st, srv.URL)
	o.For = 1
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	now := time.Now()
	if err := m.Process(context.Background(), now, []Prediction{pred("bad", now, 0.8), pred("good", now, 0.8)}); err != nil {
		t.Fatal(err)
	}
	startRun(t, m)
	eventually(t, 5*time.Second, "outbox drained", func() error {
		if n := len(pending(t, st, srv.URL)); n != 0 {
			return errors.New("items pending")
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(accepted) != 1 || accepted[0] != "good" {
		t.Errorf("accepted %v, want [good]", accepted)
	}
	if got := testutil.ToFloat64(m.targets[0].failed); got != 1 {
		t.Errorf("omen_notifications_failed_total %g, want 1 (the bad alert)", got)
	}
	if got := testutil.ToFloat64(m.targets[0].sent); got != 1 {
		t.Errorf("omen_notifications_total %g, want 1", got)
	}
}
