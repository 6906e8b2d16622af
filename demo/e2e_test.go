package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/sim"
	"github.com/omen-sre/omen/store"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// e2eModel is the model the end-to-end test runs: the one "omen eval sim
// --seed 13" trained (eight simulated fleets of 24 hours, seeds 1013–1020,
// exactly as the evaluation trains), checked in so the test proves the
// pipeline with a production-grade model without spending CI minutes on
// training (training itself runs in TestEvalSmoke and the training
// package's tests). Regenerate it after a change to the model format, the
// simulator's features or training (about 15 minutes):
//
//	go run ./cmd/omen eval sim --seed 13 --duration 24h --save-model demo/testdata/e2e-model.omen
const e2eModel = "testdata/e2e-model.omen"

func loadE2EModel(t *testing.T, names []string) (*model.Model, []byte) {
	t.Helper()
	data, err := os.ReadFile(e2eModel)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Unmarshal(data)
	if err != nil {
		t.Fatalf("load %s: %v", e2eModel, err)
	}
	if err := m.CheckFeatures(names); err != nil {
		t.Fatalf("%s does not fit the simulator's features, regenerate it (see e2eModel): %v", e2eModel, err)
	}
	return m, data
}

// TestEndToEnd is the end-to-end proof with the real components: Debian
// nats-server carries the fleet's Kubernetes and module events, a real
// Prometheus 2.42 scrapes the simulated fleet's /metrics and remote-writes
// to omen, and a real Alertmanager 0.25 receives omen's alerts. It asserts
// that the alert for the injected failure reaches Alertmanager before the
// failure, with the injected cause first in its top_causes annotation.
//
// Time: Prometheus appends no scraped sample more than 10 minutes ahead of
// its clock, and its remote-write forwards no sample older than its own
// start. So the fleet's first 40 simulated minutes (the pods' warm-up:
// omen's windows are 8 minutes, its rate features 10) are its history,
// published over nats-server as line protocol as fast as omen evaluates
// them, until the simulated clock has caught up with the wall clock. From
// then on Prometheus scrapes the fleet, which runs 15 times faster than
// real time while it is less than 9 minutes ahead and in step after that.
// The failure's precursor starts 2 minutes before that switch and the
// failure comes 10 minutes after it, so the alert has to come through
// Prometheus's remote-write.
func TestEndToEnd(t *testing.T) {
	natsURL := testenv.NATSServer(t)
	amURL := testenv.Alertmanager(t)

	const (
		history  = 40 * time.Minute
		lead     = 12 * time.Minute
		maxAhead = 9 * time.Minute
	)
	start := time.Now().Add(-history).Truncate(Step)
	f, err := sim.New(sim.Options{Seed: 7, Start: start, Step: Step, DeployEvery: -1, GlitchEvery: -1,
		Scenarios: []sim.ScenarioSpec{{Kind: sim.MemoryGrowth, Service: "cartservice", At: history + 10*time.Minute, Lead: lead, Strength: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	// The fleet's /metrics page stays empty during the history: those
	// samples go over NATS.
	var scrapeable atomic.Bool
	fleetHandler := f.Handler()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fleetSrv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !scrapeable.Load() {
			w.Header().Set("Content-Type", sim.PromContentType)
			return
		}
		fleetHandler.ServeHTTP(w, r)
	})}
	go func() { _ = fleetSrv.Serve(ln) }()
	t.Cleanup(func() { _ = fleetSrv.Close() })

	cfg := SimConfig(f)
	reg := prometheus.NewRegistry()
	a, err := app.New(app.Options{Config: cfg, ListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(),
		NATSURL: natsURL, AlertmanagerURLs: []string{amURL}, Logger: quietLogger(), Registerer: reg, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	m, modelData := loadE2EModel(t, a.FeatureNames())
	if err := promote(a, modelData, "e2e"); err != nil {
		t.Fatal(err)
	}

	// Prometheus keeps the fleet's own labels and drops the job and
	// instance it would add, so the scraped series continue the series
	// the history sent over NATS. Its own per-scrape series (up,
	// scrape_duration_seconds, …), which still carry a job label and
	// wall-clock timestamps, are not remote-written: only fleet data
	// reaches omen that way.
	promCfg := fmt.Sprintf(`
global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: fleet
    honor_labels: true
    honor_timestamps: true
    static_configs:
      - targets: ['%s']
    metric_relabel_configs:
      - action: labeldrop
        regex: job|instance
remote_write:
  - url: http://%s/api/v1/write
    queue_config: {min_shards: 1, max_shards: 1, batch_send_deadline: 200ms, max_samples_per_send: 5000}
    write_relabel_configs:
      - source_labels: [job]
        regex: .+
        action: drop
`, ln.Addr(), a.Addr())
	promURL := testenv.Prometheus(t, promCfg)

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	// History over nats-server until the fleet's clock reaches the wall
	// clock (after Prometheus's start).
	o := Options{Seed: 7, Out: io.Discard}
	o.defaults()
	o.App.Logger = quietLogger()
	for f.Now().Before(time.Now()) {
		n := max(1, int(time.Since(f.Now())/Step)+1)
		if err := publishPaced(ctx, a, f, nc, o, n, "history"); err != nil {
			t.Fatal(err)
		}
	}
	switched := f.Now()
	histSamples, _ := a.Progress()
	if pod := f.Truth()[0].Entity["pod"]; pod != "" {
		if _, ok := amAlert(t, amURL, pod); ok {
			t.Fatalf("the alert for %s fired during the history, before Prometheus had sent anything", pod)
		}
	}

	// Live: Prometheus scrapes the fleet; events still go over NATS.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var truth sim.Truth
	alertedAt := time.Time{}
	var topCauses string
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if time.Until(f.Now()) > maxAhead-Step {
			time.Sleep(250 * time.Millisecond)
		} else {
			tick := f.Advance()
			scrapeable.Store(true)
			ps, err := tick.Payloads(sim.FormatInflux, "omen.metrics", "omen.events")
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				if !strings.HasPrefix(p.Subject, "omen.events") {
					continue
				}
				if _, err := js.Publish(ctx, p.Subject, p.Data, jetstream.WithMsgID(p.MsgID)); err != nil {
					t.Fatalf("publish events: %v", err)
				}
			}
			time.Sleep(time.Second) // two scrapes per tick: none is missed
		}
		truth = f.Truth()[0]
		if pod := truth.Entity["pod"]; pod != "" {
			if causes, ok := amAlert(t, amURL, pod); ok {
				alertedAt, topCauses = f.Now(), causes
				break
			}
		}
		if f.Now().After(truth.FailureAt) {
			break
		}
	}
	t.Logf("history %v over NATS (%d samples), live from %v; the failure at %v", switched.Sub(start), histSamples, switched.Format(time.TimeOnly), truth.FailureAt.Format(time.TimeOnly))

	// The live data came through Prometheus: its remote-write sent fleet
	// samples (its own series are not forwarded), omen received them on
	// its remote-write receiver and evaluated steps past the switch.
	sent := promCounter(t, promURL, "prometheus_remote_storage_samples_total")
	samples, step := a.Progress()
	if sent == 0 || samples <= histSamples || step <= switched.UnixMilli() {
		t.Fatalf("Prometheus remote-wrote %.0f samples; omen applied %d (%d from the history) up to %v, the live phase began at %v",
			sent, samples, histSamples, time.UnixMilli(step), switched)
	}
	ps, err := a.Store().LatestPredictions()
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(f.Pods()) {
		t.Errorf("%d entities have predictions, the fleet has %d pods", len(ps), len(f.Pods()))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var events float64
	for _, mf := range mfs {
		if mf.GetName() == "omen_ingested_events_total" {
			for _, m := range mf.GetMetric() {
				events += m.GetCounter().GetValue()
			}
		}
	}
	if events == 0 {
		t.Error("no Kubernetes or module events arrived through nats-server")
	}
	if os.Getenv("OMEN_E2E_DEBUG") != "" {
		logDebug(t, a, truth)
	}
	if rw := ingestedFrom(t, mfs, "remote-write"); rw == 0 {
		t.Error("omen's remote-write receiver ingested no samples")
	}
	if alertedAt.IsZero() {
		var maxProb float64
		_ = a.Store().Predictions("boutique/"+truth.Entity["pod"], truth.Onset.UnixMilli(), truth.FailureAt.UnixMilli(), func(p store.Prediction) error {
			maxProb = max(maxProb, p.Prob)
			return nil
		})
		t.Fatalf("no alert for %s reached Alertmanager before its failure at %v (max probability %.3f during the precursor, threshold %.3f)",
			truth.Entity["pod"], truth.FailureAt, maxProb, m.Thresholds().Failure)
	}
	// The alert came from the live (Prometheus) data: the pod's
	// probability first crossed the threshold after the switch.
	var crossed time.Time
	_ = a.Store().Predictions("boutique/"+truth.Entity["pod"], truth.Onset.Add(-Horizon*Step).UnixMilli(), truth.FailureAt.UnixMilli(), func(p store.Prediction) error {
		if crossed.IsZero() && p.Prob >= m.Thresholds().Failure {
			crossed = time.UnixMilli(p.T)
		}
		return nil
	})
	if crossed.IsZero() || crossed.Before(switched) {
		t.Errorf("the probability crossed the threshold at %v, want after the switch to Prometheus at %v", crossed, switched)
	}
	got := truth.FailureAt.Sub(alertedAt)
	t.Logf("alert for %s in Alertmanager %v before the failure; top_causes %q (true cause %s)", truth.Entity["pod"], got, topCauses, truth.Cause)
	if !alertedAt.Before(truth.FailureAt) {
		t.Errorf("the alert reached Alertmanager at %v, after the failure at %v", alertedAt, truth.FailureAt)
	}
	if !strings.HasPrefix(topCauses, truth.Cause+" ") {
		t.Errorf("top_causes %q do not start with the injected cause %s", topCauses, truth.Cause)
	}
}

// logDebug logs the true cause's feature and the predictions of the
// failing pod around its precursor.
func logDebug(t *testing.T, a *app.App, truth sim.Truth) {
	schema, _ := a.Store().Schema()
	fi := -1
	for i, n := range schema.Features {
		if n == truth.Cause {
			fi = i
		}
	}
	_ = a.Store().Vectors("boutique/"+truth.Entity["pod"], truth.Onset.Add(-5*time.Minute).UnixMilli(), truth.FailureAt.UnixMilli(), func(v store.Vector) error {
		if fi >= 0 {
			t.Logf("DEBUG %s %s=%.3f", time.UnixMilli(v.T).Sub(truth.FailureAt), truth.Cause, v.Values[fi])
		}
		return nil
	})
	_ = a.Store().Predictions("boutique/"+truth.Entity["pod"], truth.Onset.UnixMilli(), truth.FailureAt.UnixMilli(), func(p store.Prediction) error {
		t.Logf("DEBUG pred %s p=%.3f", time.UnixMilli(p.T).Sub(truth.FailureAt), p.Prob)
		return nil
	})
}

// ingestedFrom sums omen_ingested_samples_total for one source.
func ingestedFrom(t *testing.T, mfs []*dto.MetricFamily, source string) float64 {
	t.Helper()
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "omen_ingested_samples_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// promCounter sums a counter's series on Prometheus's own /metrics page.
func promCounter(t *testing.T, promURL, name string) float64 {
	t.Helper()
	resp, err := http.Get(promURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// amAlert looks for omen's alert for pod in Alertmanager and returns its
// top_causes annotation.
func amAlert(t *testing.T, amURL, pod string) (string, bool) {
	t.Helper()
	resp, err := http.Get(amURL + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var as []struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.Labels["alertname"] == "ModuleLoadFailurePredicted" && a.Labels["pod"] == pod {
			return a.Annotations["top_causes"], true
		}
	}
	return "", false
}
