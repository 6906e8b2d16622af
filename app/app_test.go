package app

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	pmodel "github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakIgnores()...)
}

// leakIgnores are the goroutines goleak does not count as leaks.
func leakIgnores() []goleak.Option {
	return []goleak.Option{
		// Badger and the NATS server keep package-level goroutines.
		goleak.IgnoreAnyFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		goleak.IgnoreAnyFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"),
		goleak.IgnoreAnyFunction("github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start.func1"),
		// The embedded NATS server's Shutdown returns before its file store's
		// flush loop and its accounting goroutine have exited.
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
	}
}

// testConfig has a small feature set over the series the tests send,
// evaluated every 5 s.
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.Load("test.yml", []byte(testConfigYAML))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testConfigYAML is testConfig's file.
const testConfigYAML = `
entity_labels: [namespace, pod]
step: 5s
lookback: 6m
features:
  - name: cpu_rate
    expr: sum by (${entity}) (rate(container_cpu_usage_seconds_total[30s]))
  - name: mem_ratio
    expr: max by (${entity}) (container_memory_working_set_bytes / container_spec_memory_limit_bytes)
  - name: restarts
    expr: sum by (${entity}) (increase(kube_pod_container_status_restarts_total[30s]))
  - name: mem_avg
    expr: avg by (${entity}) (avg_over_time(container_memory_working_set_bytes[20s]))
event_features:
  - name: module_errors
    reasons: [ModuleLoadError]
    window: 1m
labels:
  - name: crashloop
    reasons: [CrashLoopBackOff]
`

// configFileWriter returns the path of a configuration file in a
// temporary directory and a function that writes yml to it.
func configFileWriter(t *testing.T) (string, func(yml string)) {
	file := filepath.Join(t.TempDir(), "omen.yml")
	return file, func(yml string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func startApp(t *testing.T, dir string, mut func(*Options)) *App {
	t.Helper()
	o := Options{
		Config:            testConfig(t),
		ListenAddress:     "127.0.0.1:0",
		StoragePath:       dir,
		NATSListenAddress: "127.0.0.1:0",
		ShutdownTimeout:   20 * time.Second,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if mut != nil {
		mut(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			if err := a.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	})
	return a
}

// podLines renders line protocol for pods at time ts (round r).
func podLines(r int, ts time.Time, pods int) []byte {
	var b strings.Builder
	for p := 0; p < pods; p++ {
		fmt.Fprintf(&b, "container,namespace=shop,pod=cart-%d,container=app cpu_usage_seconds_total=%g,memory_working_set_bytes=%d,spec_memory_limit_bytes=1000 %d\n",
			p, float64(r)*0.5*float64(p+1), 100+10*r*p, ts.UnixNano())
		fmt.Fprintf(&b, "kube_pod_container_status_restarts_total,namespace=shop,pod=cart-%d,container=app value=%d %d\n", p, r/8, ts.UnixNano())
	}
	return []byte(b.String())
}

func publish(t *testing.T, url string, subject string, payloads ...[]byte) {
	t.Helper()
	publishWith(t, url, nil, subject, payloads...)
}

// publishWith is publish connecting with opts (credentials, TLS).
func publishWith(t *testing.T, url string, opts []nats.Option, subject string, payloads ...[]byte) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range payloads {
		if _, err := js.Publish(ctx, subject, p); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func countVectors(t *testing.T, st *store.Store, entity string) (n int, last store.Vector) {
	t.Helper()
	err := st.Vectors(entity, math.MinInt64, math.MaxInt64, func(v store.Vector) error {
		n++
		last = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, last
}

func countBatches(t *testing.T, st *store.Store) (batches, samples int) {
	t.Helper()
	err := st.ReplayBatches(0, func(b telemetry.Batch) error {
		if len(b.Samples) == 0 && len(b.Events) == 0 {
			return nil // the marker of a dead-lettered message
		}
		batches++
		samples += len(b.Samples)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return batches, samples
}

// TestNATSToFeatures: line protocol and events on the embedded NATS server
// become feature vectors in Badger, with hand-checkable values.
func TestNATSToFeatures(t *testing.T) {
	a := startApp(t, t.TempDir(), nil)
	start := time.Now().Add(-4 * time.Minute).Truncate(5 * time.Second)
	var payloads [][]byte
	for r := 0; r < 40; r++ {
		payloads = append(payloads, podLines(r, start.Add(time.Duration(r)*5*time.Second), 3))
	}
	publish(t, a.NATSURL(), "omen.metrics.influx", payloads...)
	ev := fmt.Sprintf(`{"time":%d,"namespace":"shop","pod":"cart-1","reason":"ModuleLoadError","message":"cannot load module payments"}`,
		start.Add(190*time.Second).UnixMilli())
	publish(t, a.NATSURL(), "omen.events.module", []byte(ev))

	waitFor(t, "feature vectors of the last step", 30*time.Second, func() bool {
		n, last := countVectors(t, a.Store(), "shop/cart-1")
		return n > 0 && last.T >= start.Add(190*time.Second).UnixMilli()
	})
	_, last := countVectors(t, a.Store(), "shop/cart-1")
	names := features.Names(a.Config().Config)
	val := map[string]float64{}
	for i, n := range names {
		val[n] = last.Values[i]
	}
	// cart-1's CPU counter grows 1.0 per 5 s round: rate = 0.2/s.
	if got := val["cpu_rate"]; math.Abs(got-0.2) > 1e-9 {
		t.Errorf("cpu_rate = %v, want 0.2", got)
	}
	// memory = 100 + 10·r at limit 1000.
	r := int(time.UnixMilli(last.T).Sub(start) / (5 * time.Second))
	if got, want := val["mem_ratio"], float64(100+10*r)/1000; math.Abs(got-want) > 1e-9 {
		t.Errorf("mem_ratio at round %d = %v, want %v", r, got, want)
	}
	if got := val["module_errors"]; got != 1 {
		t.Errorf("module_errors = %v, want 1", got)
	}
}

// TestRestartNothingLost: everything acknowledged before a stop is in the
// store after a restart on the same path, exactly once, and the restarted
// daemon continues evaluating from the replayed window.
func TestRestartNothingLost(t *testing.T) {
	dir := t.TempDir()
	natsPort := testenv.StablePort(t)
	mut := func(o *Options) { o.NATSListenAddress = fmt.Sprintf("127.0.0.1:%d", natsPort) }
	a := startApp(t, dir, mut)
	start := time.Now().Add(-3 * time.Minute).Truncate(5 * time.Second)
	var first [][]byte
	for r := 0; r < 20; r++ {
		first = append(first, podLines(r, start.Add(time.Duration(r)*5*time.Second), 2))
	}
	publish(t, a.NATSURL(), "omen.metrics.influx", first...)
	waitFor(t, "first batches stored", 20*time.Second, func() bool {
		b, _ := countBatches(t, a.Store())
		return b == 20
	})
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	b := startApp(t, dir, mut)
	// The stream survived in the embedded server's store; publishing more
	// after the restart, the consumer resumes where it was.
	var second [][]byte
	for r := 20; r < 36; r++ {
		second = append(second, podLines(r, start.Add(time.Duration(r)*5*time.Second), 2))
	}
	publish(t, b.NATSURL(), "omen.metrics.influx", second...)
	waitFor(t, "all batches stored", 20*time.Second, func() bool {
		n, _ := countBatches(t, b.Store())
		return n >= 36
	})
	time.Sleep(500 * time.Millisecond) // a duplicate would arrive now
	n, samples := countBatches(t, b.Store())
	if n != 36 || samples != 36*2*4 {
		t.Fatalf("after restart: %d batches with %d samples, want 36 with %d", n, samples, 36*2*4)
	}
	waitFor(t, "vectors after restart", 20*time.Second, func() bool {
		_, last := countVectors(t, b.Store(), "shop/cart-0")
		return last.T >= start.Add(170*time.Second).UnixMilli()
	})
	// The replayed window makes rates right immediately after the restart:
	// cart-0 grows 0.5 per 5 s.
	_, last := countVectors(t, b.Store(), "shop/cart-0")
	if got := last.Values[0]; math.Abs(got-0.1) > 1e-9 {
		t.Errorf("cpu_rate after restart = %v, want 0.1", got)
	}
}

// TestDebianNATSServer: omen consumes from Debian's nats-server 2.9.
func TestDebianNATSServer(t *testing.T) {
	url := testenv.NATSServer(t)
	a := startApp(t, t.TempDir(), func(o *Options) { o.NATSURL = url })
	start := time.Now().Add(-2 * time.Minute).Truncate(5 * time.Second)
	var payloads [][]byte
	for r := 0; r < 12; r++ {
		payloads = append(payloads, podLines(r, start.Add(time.Duration(r)*5*time.Second), 2))
	}
	publish(t, url, "omen.metrics.influx", payloads...)
	publish(t, url, "omen.metrics.influx", []byte("not line protocol at all\n"))
	waitFor(t, "batches from Debian nats-server", 20*time.Second, func() bool {
		n, _ := countBatches(t, a.Store())
		return n == 12
	})
	waitFor(t, "vectors", 20*time.Second, func() bool {
		n, _ := countVectors(t, a.Store(), "shop/cart-1")
		return n > 0
	})
}

// TestHTTPEndpoints: health, readiness, metrics and reload.
func TestHTTPEndpoints(t *testing.T) {
	a := startApp(t, t.TempDir(), nil)
	base := "http://" + a.Addr()
	for _, tc := range []struct {
		method, path string
		want         int
		body         string
	}{
		{"GET", "/-/healthy", 200, "Healthy"},
		{"GET", "/-/ready", 200, "Ready"},
		{"GET", "/metrics", 200, "omen_evaluator_steps_total"},
		{"POST", "/-/reload", 200, "reloaded"},
		{"GET", "/-/reload", 405, ""},
		{"GET", "/api/v1/openapi.json", 200, "openapi"},
		{"GET", "/api/v1/model", 503, "no model"},
		{"GET", "/api/v1/predictions", 200, "success"},
		{"GET", "/ui/", 200, "omen"},
		{"POST", "/api/v1/write", 415, ""},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		req.Header.Set("Content-Type", "text/plain") // a wrong type for remote-write
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := new(strings.Builder)
		_, _ = fmt.Fprint(buf, readAll(resp))
		if resp.StatusCode != tc.want || !strings.Contains(buf.String(), tc.body) {
			t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, resp.StatusCode, trim(buf.String()), tc.want, tc.body)
		}
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

var _ = pmodel.Duration(0)
