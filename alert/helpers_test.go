package alert

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/store"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	opts := store.Options{InMemory: dir == "", Path: dir}
	s, err := store.Open(opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testOptions are short intervals for tests.
func testOptions(st *store.Store, ams ...string) Options {
	return Options{
		Store:         st,
		Alertmanagers: ams,
		ResendDelay:   200 * time.Millisecond,
		// A long evaluation interval gives firing alerts a distant endsAt,
		// so an alert disappearing from Alertmanager proves the resolution
		// arrived (and not that it timed out).
		EvalInterval: time.Hour,
		For:          2,
		ExternalURL:  "http://omen.example:9090",
		MinBackoff:   20 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
		Timeout:      2 * time.Second,
		Registerer:   prometheus.NewRegistry(),
		Explainer:    fakeExplainer{},
	}
}

type fakeExplainer struct{}

func (fakeExplainer) Explain(_ context.Context, p Prediction) (Explanation, error) {
	return Explanation{
		TopCauses: []Cause{
			{Name: "memory_working_set_ratio", Kind: "metric", Entity: p.Entity, Share: 0.62},
			{Name: "OOMKilled", Kind: "event", Entity: p.Entity, Share: 0.21},
			{Name: "config-store", Kind: "dependency", Entity: "infra/config-store", Share: 0.09},
		},
	}, nil
}

func pred(entity string, t time.Time, prob float64) Prediction {
	return Prediction{
		ID: store.PredictionID(entity, t.UnixMilli()), Entity: entity,
		Labels: map[string]string{"namespace": "shop", "pod": entity, "service": "checkout"},
		T:      t, Prob: prob, Anomaly: 2.5, Threshold: 0.7, Horizon: 15 * time.Minute, ModelVersion: "v1",
	}
}

// startRun runs m.Run until the test ends.
func startRun(t testing.TB, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// amAlert is Alertmanager's gettableAlert (the fields tests look at).
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

// amAlerts returns the active alerts of the Alertmanager at base by
// fingerprint.
func amAlerts(t testing.TB, base string) map[string]amAlert {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatalf("get alerts: %v", err)
	}
	defer resp.Body.Close()
	var as []amAlert
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		t.Fatalf("decode alerts: %v", err)
	}
	out := map[string]amAlert{}
	for _, a := range as {
		out[a.Fingerprint] = a
	}
	return out
}

// eventually polls cond every 20ms for up to d.
func eventually(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, d, err)
}

// proxy stands between omen and an Alertmanager on a fixed loopback port:
// it can be stopped (connections refused, as when Alertmanager is down),
// restarted on the same port and pointed at another Alertmanager. It
// records every alert an Alertmanager accepted.
type proxy struct {
	t    testing.TB
	addr string

	tr *http.Transport

	mu       sync.Mutex
	backend  string
	srv      *http.Server
	accepted []postableAlert
}

func newProxy(t testing.TB, backend string) *proxy {
	p := &proxy{t: t, backend: backend, tr: http.DefaultTransport.(*http.Transport).Clone()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) URL() string { return "http://" + p.addr }

func (p *proxy) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle)}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (p *proxy) handle(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	backend := p.backend
	p.mu.Unlock()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	u, _ := url.Parse(backend)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = p.tr
	rp.ModifyResponse = func(resp *http.Response) error {
		if r.Method == http.MethodPost && resp.StatusCode/100 == 2 {
			var as []postableAlert
			if err := json.Unmarshal(body, &as); err == nil {
				p.mu.Lock()
				p.accepted = append(p.accepted, as...)
				p.mu.Unlock()
			}
		}
		return nil
	}
	r.Body = io.NopCloser(&readerOf{b: body})
	rp.ServeHTTP(w, r)
}

type readerOf struct{ b []byte }

func (r *readerOf) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// down stops the proxy: new connections are refused.
func (p *proxy) down() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	p.tr.CloseIdleConnections()
}

// up restarts the proxy on the same port, forwarding to backend.
func (p *proxy) up(backend string) {
	p.mu.Lock()
	p.backend = backend
	p.mu.Unlock()
	var l net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if l, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("relisten on %s: %v", p.addr, err)
	}
	p.serve(l)
}

// acceptedStates returns, per fingerprint, the sequence of distinct
// (state, startsAt) versions Alertmanager accepted, a state being "firing"
// or "resolved" (endsAt ≤ the time it was posted is approximated by
// comparing endsAt with startsAt + 1h: firing alerts carry endsAt ≥ 4h
// ahead in these tests).
func (p *proxy) acceptedStates() map[string][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string][]string{}
	for _, a := range p.accepted {
		fp := fingerprint(a.Labels)
		st := fmt.Sprintf("firing@%d", a.StartsAt.UnixMilli())
		if a.EndsAt.Sub(a.StartsAt) < time.Hour {
			st = fmt.Sprintf("resolved@%d", a.StartsAt.UnixMilli())
		}
		seq := out[fp]
		if len(seq) == 0 || seq[len(seq)-1] != st {
			out[fp] = append(seq, st)
		}
	}
	return out
}

// answerStatus is the handler h of a fake Alertmanager that also answers
// the check of its status (GET /api/v2/status, checkTarget) with 200, for
// h to see the alerts' POSTs only.
func answerStatus(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == statusPath {
			_, _ = io.WriteString(w, `{"cluster":{"peers":[],"status":"disabled"}}`)
			return
		}
		h(w, r)
	})
}
