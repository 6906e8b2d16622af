package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/stream"
	"github.com/omen-sre/omen/stream/natsembed"
	"github.com/omen-sre/omen/telemetry"
)

// queryRecorder is a fake Prometheus query API that records the PromQL
// expressions it is asked and answers each with an empty vector.
type queryRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (q *queryRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err == nil {
		q.mu.Lock()
		q.seen = append(q.seen, r.Form.Get("query"))
		q.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
}

// take returns the expressions asked since the last call, sorted.
func (q *queryRecorder) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.seen
	q.seen = nil
	slices.Sort(out)
	return out
}

// pollerConfigs returns two configurations polling a fake Prometheus (a
// queryRecorder): good has one PromQL feature, eventsOnly none (the
// pollers refuse it).
func pollerConfigs(t *testing.T) (good, eventsOnly string) {
	t.Helper()
	prom := httptest.NewServer(&queryRecorder{})
	t.Cleanup(prom.Close)
	head := "entity_labels: [namespace, pod]\nstep: 5s\nprometheus:\n  - url: " + prom.URL + "\n"
	return head + "features:\n  - name: cpu_rate\n    expr: sum by (${entity}) (rate(cpu_total[30s]))\n",
		head + "event_features:\n  - name: module_errors\n    reasons: [ModuleLoadError]\n    window: 1m\n"
}

func loadConfig(t *testing.T, yml string) *config.Config {
	t.Helper()
	c, err := config.Load("test.yml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newEmbeddedSources returns the sources of cfg on an embedded NATS
// server, appending nowhere and logging to log (nil: nowhere).
func newEmbeddedSources(t *testing.T, cfg *config.Config, log *slog.Logger) *sources {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{ListenAddress: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	src, err := newSources(sourceOptions{Config: cfg, NATSURL: srv.ClientURL(),
		Appender:   stream.AppenderFunc(func(context.Context, []telemetry.Batch) error { return nil }),
		Registerer: prometheus.NewRegistry(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.nc.Close)
	return src
}

func resolvedExprs(cfg *config.Config) []string {
	var out []string
	for _, f := range cfg.Resolved().Features {
		out = append(out, f.Expr)
	}
	slices.Sort(out)
	return out
}

// TestSourcesSetConfigUpdatesPollers: after setConfig (what a reload
// calls), the Prometheus pollers poll the reloaded feature set: a new
// feature is polled, a changed expression is polled in its new form.
func TestSourcesSetConfigUpdatesPollers(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	rec := &queryRecorder{}
	var proms []*httptest.Server
	for range 2 {
		ps := httptest.NewServer(rec)
		t.Cleanup(ps.Close)
		proms = append(proms, ps)
	}
	const before = `
entity_labels: [namespace, pod]
step: 5s
features:
  - name: cpu_rate
    expr: sum by (${entity}) (rate(old_cpu_total[30s]))
  - name: mem_ratio
    expr: max by (${entity}) (old_mem_bytes)
`
	const after = `
entity_labels: [namespace, pod]
step: 5s
features:
  - name: cpu_rate
    expr: sum by (${entity}) (rate(new_cpu_total[1m]))
  - name: mem_ratio
    expr: max by (${entity}) (old_mem_bytes)
  - name: restarts
    expr: sum by (${entity}) (increase(added_restarts_total[1m]))
`
	cfg := loadConfig(t, before)
	for _, ps := range proms {
		cfg.Prometheus = append(cfg.Prometheus, config.PollerConfig{URL: ps.URL})
	}
	src := newEmbeddedSources(t, cfg, nil)
	ctx := context.Background()
	evalAll := func() []string {
		t.Helper()
		for _, p := range src.pollers {
			if err := p.Eval(ctx, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		return rec.take()
	}
	twice := func(exprs []string) []string {
		var out []string
		for _, e := range exprs {
			out = append(out, e, e) // one per poller
		}
		slices.Sort(out)
		return out
	}
	if got, want := evalAll(), twice(resolvedExprs(cfg)); !slices.Equal(got, want) {
		t.Fatalf("before reload polled %q, want %q", got, want)
	}

	cfg2 := loadConfig(t, after)
	if err := src.setConfig(cfg2); err != nil {
		t.Fatal(err)
	}
	got := evalAll()
	if want := twice(resolvedExprs(cfg2)); !slices.Equal(got, want) {
		t.Fatalf("after reload polled %q, want %q", got, want)
	}
	joined := strings.Join(got, "\n")
	if strings.Contains(joined, "old_cpu_total") || !strings.Contains(joined, "new_cpu_total") || !strings.Contains(joined, "added_restarts_total") {
		t.Fatalf("after reload polled %q: want the changed and the added feature in their new form", got)
	}

	// Without pollers, and on a nil *sources, setConfig does nothing.
	if err := (*sources)(nil).setConfig(cfg2); err != nil {
		t.Fatal(err)
	}
}

// TestSourcesRefusedConfigTouchesNothing: a configuration the Prometheus
// pollers refuse (no PromQL feature) changes no limit, not even for a
// moment, and logs neither limits as applied nor a restart warning.
func TestSourcesRefusedConfigTouchesNothing(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	good, eventsOnly := pollerConfigs(t)
	// Refused by the pollers; it also changes both sets of limits and a
	// restart-only key.
	refused := eventsOnly + `remote_write:
  max_samples_per_request: 7
nats:
  max_labels: 9
ingest:
  max_sample_age: 1h
`
	logs := &testenv.SyncBuffer{}
	cfg := loadConfig(t, good)
	src := newEmbeddedSources(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	rwBefore, liveBefore := src.rw.Limits(), src.live

	if err := src.setConfig(loadConfig(t, refused)); err == nil {
		t.Fatal("setConfig accepted a feature set the pollers refuse")
	}
	if got := src.rw.Limits(); got != rwBefore {
		t.Errorf("remote-write limits %+v after a refused config, want %+v", got, rwBefore)
	}
	if !reflect.DeepEqual(src.live, liveBefore) {
		t.Errorf("live limits %+v after a refused config, want %+v", src.live, liveBefore)
	}
	for _, line := range []string{"limits applied", "options applied", "not applied until restart", "queries updated"} {
		if strings.Contains(logs.String(), line) {
			t.Errorf("a refused config logged %q:\n%s", line, logs.String())
		}
	}
}

// TestPollerBackfillWithinLookback: a Prometheus poller backfills at most
// the lookback, all the in-memory window keeps (by default exactly that);
// before, it fetched an hour by default and the window dropped most of it.
func TestPollerBackfillWithinLookback(t *testing.T) {
	tests := []struct {
		name, backfill string
		want           time.Duration
	}{
		{name: "default", backfill: "", want: 6 * time.Minute},
		{name: "longer than the lookback", backfill: "    backfill: 1h\n", want: 6 * time.Minute},
		{name: "shorter", backfill: "    backfill: 2m\n", want: 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, testConfigYAML+"prometheus:\n  - url: http://127.0.0.1:1\n"+tt.backfill)
			src := newEmbeddedSources(t, cfg, nil)
			if len(src.pollers) != 1 || src.pollers[0].backfill != tt.want {
				t.Fatalf("pollers %+v, want one backfilling %v", src.pollers, tt.want)
			}
		})
	}
}
