package app

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// alertPipeline is the evaluation pipeline (ingester, extractor, scorer,
// evaluator, alerter, explainer) without the daemon, driven step by step.
type alertPipeline struct {
	t    *testing.T
	reg  *prometheus.Registry
	st   *store.Store
	s    *scorer
	in   *ingester
	ex   *explainer // nil unless alertPipelineOptions.explain
	al   *alerter
	e    *evaluator
	step int64
	seq  uint64
}

// alertPipelineOptions are what the tests of the pipeline set differently.
type alertPipelineOptions struct {
	failure float64 // the model's failure threshold; 0 keeps the model's own
	explain bool    // the alerter explains the alerts it fires (else no explainer)
}

func newAlertPipeline(t *testing.T, o alertPipelineOptions) *alertPipeline {
	t.Helper()
	cfg := testConfig(t)
	m, err := model.New(model.Config{Features: features.Names(cfg.Config), Window: 2, Hidden: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if o.failure != 0 {
		m.SetThresholds(model.Thresholds{Failure: o.failure})
	}
	p := &alertPipeline{t: t, reg: prometheus.NewRegistry(), step: time.Duration(cfg.Step).Milliseconds()}
	p.s, p.st = newTestScorer(t, cfg, m, p.reg)
	t.Cleanup(func() { _ = p.st.Close() })
	log := slog.New(slog.DiscardHandler)
	head, err := features.NewHead(features.HeadOptions{Lookback: time.Duration(cfg.Lookback), MaxSeries: cfg.MaxSeries, Registerer: p.reg})
	if err != nil {
		t.Fatal(err)
	}
	fx, err := features.NewExtractor(features.ExtractorOptions{Config: cfg.Config, Head: head, Registerer: p.reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	p.in = newIngester(p.st, head, fx, p.reg, log)
	if o.explain {
		p.ex = newExplainer(p.st, p.s, cfg)
	}
	p.al, err = newAlerter(alerterOptions{Store: p.st, Config: cfg, ListenAddress: "127.0.0.1:1", Step: time.Duration(cfg.Step),
		Explainer: p.ex, Registerer: p.reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.al.close(context.Background()) })
	p.e = newEvaluator(evaluatorOptions{Extractor: fx, Store: p.st, Ingest: p.in, Scorer: p.s, Alerts: p.al, Step: time.Duration(cfg.Step),
		Registerer: p.reg, Logger: log})
	return p
}

// appendPods appends one scrape of the pods at ts.
func (p *alertPipeline) appendPods(ts int64, pods []string, k int) {
	p.t.Helper()
	var smp []telemetry.Sample
	for _, pod := range pods {
		for _, mv := range []struct {
			n string
			v float64
		}{{"container_memory_working_set_bytes", 500}, {"container_spec_memory_limit_bytes", 1000}, {"container_cpu_usage_seconds_total", float64(k)}} {
			smp = append(smp, telemetry.Sample{Labels: labels.FromStrings("__name__", mv.n, "namespace", "shop", "pod", pod, "container", "app"), T: ts, V: mv.v})
		}
	}
	p.seq++
	if err := p.in.Append(context.Background(), []telemetry.Batch{{Source: "test", Seq: p.seq, Received: ts, Samples: smp}}); err != nil {
		p.t.Fatal(err)
	}
}

// live are the pipeline's per-entity figures.
type live struct {
	windows, latest, firing, alerts, known int
	probSeries, firingGauge                int
}

func (p *alertPipeline) live() live {
	p.t.Helper()
	var l live
	p.s.mu.RLock()
	l.windows, l.latest = len(p.s.windows), len(p.s.latest)
	p.s.mu.RUnlock()
	for _, a := range p.al.Alerts() {
		l.alerts++
		if a.State == "firing" {
			l.firing++
		}
	}
	l.known = len(p.e.known)
	mfs, err := p.reg.Gather()
	if err != nil {
		p.t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "omen_failure_probability":
			l.probSeries = len(mf.GetMetric())
		case "omen_alerts":
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "state" && lp.GetValue() == "firing" {
						l.firingGauge = int(m.GetGauge().GetValue())
					}
				}
			}
		}
	}
	return l
}

func pods(d, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("cart-%d-%d", d, i)
	}
	return out
}

// TestStaleChurn: 40 deployments of 10 pods, each living 12 steps, then the
// metrics stop while steps go on being evaluated for an hour of data time.
// The per-entity state (scorer windows and predictions, alerts, the
// evaluator's sightings) follows the live pods, and is empty after the
// metrics stop: no prediction is exported and no alert fires for a pod
// that is gone.
func TestStaleChurn(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{failure: 0.01}) // everything alerts
	ctx := context.Background()
	ts := time.Now().Add(-24*time.Hour).UnixMilli() / p.step * p.step
	const deploys, podsPer, life = 40, 10, 12
	// Pods seen within 2×entityRefresh + forgetEvery may be known; pods
	// sampled within PromQL's lookback still have vectors (and are scored).
	maxKnown := podsPer * int((2*entityRefresh+forgetEvery).Milliseconds()/(life*p.step)+2)
	maxLive := podsPer * int(features.DefaultLookbackDelta.Milliseconds()/(life*p.step)+2)
	gone := int(features.DefaultLookbackDelta.Milliseconds()/p.step) + 5 // steps after which no pod has a vector, + keep and missing steps
	for d := 0; d < deploys; d++ {
		for k := 0; k < life; k++ {
			p.appendPods(ts, pods(d, podsPer), k)
			p.e.evaluate(ctx, ts)
			ts += p.step
		}
		l := p.live()
		if l.known > maxKnown {
			t.Fatalf("deploy %d: evaluator knows %d entities, want at most %d (pods seen within %v)", d, l.known, maxKnown, 2*entityRefresh+forgetEvery)
		}
		// Resolved alerts are kept for the resolved retention (15m of wall
		// time, all of this test): only the firing ones are bounded here.
		if l.windows > maxLive || l.latest > maxLive || l.firing > maxLive {
			t.Fatalf("deploy %d: %+v, want at most %d windows, predictions and firing alerts", d, l, maxLive)
		}
	}
	l := p.live()
	t.Logf("live deploy: %+v", l)
	if l.firing < podsPer || l.firingGauge != l.firing || l.probSeries != l.latest || l.latest < podsPer {
		t.Fatalf("live deploy: %+v, want at least %d firing alerts and prediction series", l, podsPer)
	}
	// The metrics stop; steps are still evaluated (as when events move the
	// watermark) for an hour of data time.
	for k := 0; k < 720; k++ {
		p.e.evaluate(ctx, ts)
		ts += p.step
		if k == gone { // lookback, then scorer keep = W+1 = 3 steps; alerts MissingSteps = 3
			l := p.live()
			if l.windows != 0 || l.latest != 0 || l.probSeries != 0 || l.firing != 0 || l.firingGauge != 0 {
				t.Fatalf("%d steps after the metrics stopped: %+v, want no window, prediction or firing alert", k+1, l)
			}
		}
	}
	l = p.live()
	t.Logf("after 1h without metrics: %+v", l)
	if l.windows != 0 || l.latest != 0 || l.probSeries != 0 || l.firing != 0 || l.firingGauge != 0 || l.known != 0 {
		t.Fatalf("after 1h without metrics: %+v, want nothing live", l)
	}
	// The alerter keeps no per-entity map beyond the reported alerts.
	p.al.mu.Lock()
	nf := len(p.al.firing)
	p.al.mu.Unlock()
	if nf != 0 {
		t.Errorf("alerter still reports %d alerts firing", nf)
	}
}
