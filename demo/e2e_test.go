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
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/sim"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/training"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// trainSimModel trains a model on hours of a simulated fleet's history run
// through an in-process daemon (embedded NATS), as omen demo does.
func trainSimModel(t *testing.T, seed int64, history time.Duration) []byte {
	t.Helper()
	ctx := context.Background()
	specs, err := schedule(seed, history)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-history - 3*time.Hour).Truncate(Step)
	f, err := sim.New(sim.Options{Seed: seed, Start: start, Step: Step, Scenarios: specs})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Seed: seed, Out: io.Discard, Train: training.TrainOptions{Epochs: 5}}
	o.defaults()
	o.App = app.Options{Config: SimConfig(f), ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0",
		StoragePath: t.TempDir(), Logger: quietLogger()}
	a, err := app.New(o.App)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(context.Background()) //nolint:errcheck
	nc, err := nats.Connect(a.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := publishPaced(ctx, a, f, nc, o, int(history/Step), "history"); err != nil {
		t.Fatal(err)
	}
	_, data, err := TrainOnStore(ctx, a.Store(), start, f.Now(), o)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestEndToEnd is the end-to-end proof with the real components: Debian
// nats-server carries the fleet's Kubernetes and module events, a real
// Prometheus 2.42 scrapes the simulated fleet's /metrics and remote-writes
// to omen, and a real Alertmanager 0.25 receives omen's alerts. The fleet
// runs 15× faster than real time with one memory-growth scenario. The test
// asserts that the whole pipeline works with the real components (metrics
// through Prometheus remote-write, events through nats-server, features,
// predictions for every pod) and logs whether the alert for the failing
// pod reached Alertmanager before the failure and with which causes.
func TestEndToEnd(t *testing.T) {
	modelData := trainSimModel(t, 1001, 24*time.Hour)
	m, err := model.Unmarshal(modelData)
	if err != nil {
		t.Fatal(err)
	}

	natsURL := testenv.NATSServer(t)
	amURL := testenv.Alertmanager(t)

	// The evaluated fleet: one strong memory-growth scenario 30 simulated
	// minutes in, its precursor starting 15 minutes before.
	start := time.Now().Truncate(Step)
	f, err := sim.New(sim.Options{Seed: 7, Start: start, Step: Step, DeployEvery: -1, GlitchEvery: -1,
		Scenarios: []sim.ScenarioSpec{{Kind: sim.MemoryGrowth, Service: "cartservice", At: 25 * time.Minute, Lead: 12 * time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fleetSrv := &http.Server{Handler: f.Handler(), ReadHeaderTimeout: 5 * time.Second}
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
	if err := promote(a, m, modelData, "e2e"); err != nil {
		t.Fatal(err)
	}

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
remote_write:
  - url: http://%s/api/v1/write
    queue_config: {min_shards: 1, max_shards: 1, batch_send_deadline: 200ms, max_samples_per_send: 5000}
`, ln.Addr(), a.Addr())
	testenv.Prometheus(t, promCfg)

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	var truth sim.Truth
	alertedAt := time.Time{}
	var topCauses string
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		tick := f.Advance() // metrics: served to Prometheus; events: over NATS
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
		truth = f.Truth()[0]
		if pod := truth.Entity["pod"]; pod != "" && alertedAt.IsZero() {
			if causes, ok := amAlert(t, amURL, pod); ok {
				alertedAt, topCauses = tick.Time, causes
				break
			}
		}
		if tick.Time.After(truth.EndAt) {
			break
		}
		time.Sleep(time.Second) // two scrapes per tick: none is missed
	}
	// The pipeline with the real components must work: every pod's
	// remote-written metrics became features and predictions, and the
	// events crossed Debian's nats-server.
	samples, step := a.Progress()
	if samples == 0 || step < truth.FailureAt.UnixMilli() {
		t.Fatalf("omen applied %d samples up to %v, want data past the failure at %v", samples, time.UnixMilli(step), truth.FailureAt)
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
	var maxProb float64
	_ = a.Store().Predictions("boutique/"+truth.Entity["pod"], truth.Onset.UnixMilli(), truth.FailureAt.UnixMilli(), func(p store.Prediction) error {
		maxProb = max(maxProb, p.Prob)
		return nil
	})
	if os.Getenv("OMEN_E2E_DEBUG") != "" {
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
	// Whether the model predicts this failure in time is a quality figure,
	// measured by "omen eval sim" over many scenarios and reported in
	// docs/EVALUATION.md. It is logged here, not asserted: the model this
	// test can afford to train (one simulated day) does not yet catch this
	// scenario reliably (see docs/EVALUATION.md).
	if alertedAt.IsZero() {
		t.Logf("QUALITY: no alert for %s reached Alertmanager before its failure at %v (max probability %.3f during the precursor, threshold %.3f)",
			truth.Entity["pod"], truth.FailureAt, maxProb, m.Thresholds().Failure)
		return
	}
	lead := truth.FailureAt.Sub(alertedAt)
	t.Logf("QUALITY: alert for %s in Alertmanager %v before the failure; top_causes %q (true cause %s)", truth.Entity["pod"], lead, topCauses, truth.Cause)
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
