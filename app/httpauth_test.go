package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/stream"
	"github.com/omen-sre/omen/stream/natsembed"
	"github.com/omen-sre/omen/telemetry"
)

// securedFixture is what a Prometheus or an Alertmanager secured with
// --web.config.file needs, and what omen needs to reach it: a private CA,
// the server's certificate, omen's client certificate (the server
// requires and verifies one), a basic-auth user and omen's password file.
type securedFixture struct {
	dir                   string
	ca                    *testenv.CA
	clientCert, clientKey string
	user, password        string
	passwordFile          string
	web                   testenv.Web
}

// serverCN is the common name of the secured servers' certificate, which
// a verification error names.
const serverCN = "omen-test-secured-server"

func newSecuredFixture(t *testing.T) *securedFixture {
	t.Helper()
	dir := t.TempDir()
	f := &securedFixture{dir: dir, user: "omen", password: "s3cret-Right-pw"}
	sw := testenv.NewSecuredWeb(t, dir, "omen-test-ca", serverCN, "omen-client", f.user, f.password)
	f.ca, f.clientCert, f.clientKey, f.web = sw.CA, sw.ClientCert, sw.ClientKey, sw.Web
	f.passwordFile = filepath.Join(dir, "password")
	f.writePassword(t, f.password)
	return f
}

// writePassword writes omen's password file, with a trailing newline as
// an editor or a Kubernetes Secret may leave.
func (f *securedFixture) writePassword(t *testing.T, pw string) {
	t.Helper()
	if err := os.WriteFile(f.passwordFile, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// settings are omen's settings to reach the servers: the CA, the client
// certificate and basic auth with the password file.
func (f *securedFixture) settings() config.HTTPClientConfig {
	return config.HTTPClientConfig{
		TLSConfig: config.TLSConfig{CAFile: f.ca.File, CertFile: f.clientCert, KeyFile: f.clientKey},
		BasicAuth: config.BasicAuth{Username: f.user, PasswordFile: f.passwordFile},
	}
}

// get decodes the JSON answer of GET url, made with the fixture's client
// and credentials, into v.
func (f *securedFixture) get(t *testing.T, url string, v any) error {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(f.user, f.password)
	resp, err := f.web.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

// sampleRecorder is an Appender that keeps the names and values of the
// samples appended.
type sampleRecorder struct {
	mu   sync.Mutex
	seen map[string][]float64
}

func (r *sampleRecorder) Append(_ context.Context, bs []telemetry.Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string][]float64{}
	}
	for _, b := range bs {
		for _, s := range b.Samples {
			name := s.Labels.Get("__name__")
			r.seen[name] = append(r.seen[name], s.V)
		}
	}
	return nil
}

func (r *sampleRecorder) values(name string) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen[name])
}

// TestPollerTLSBasicAuth: a Prometheus poller reaches a Debian Prometheus
// secured with --web.config.file (TLS with a private CA, a client
// certificate required, basic auth) with tls_config (ca_file, cert_file,
// key_file) and basic_auth (password_file), and appends what it answers.
// A wrong password in the file fails the queries with a 401 that says so,
// in the error, the log and the error metric, with neither password shown
// anywhere; the password file rewritten with the right one, the next
// query uses it. A poller whose ca_file holds another CA fails with an
// error naming the server's certificate and the CA file.
func TestPollerTLSBasicAuth(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	f := newSecuredFixture(t)
	prom := testenv.PrometheusWeb(t, "", f.web)
	if !strings.HasPrefix(prom, "https://") {
		t.Fatalf("Prometheus at %s, want https", prom)
	}
	otherCA := testenv.NewCA(t, f.dir, "omen-other-ca")
	cfg := testConfig(t)
	// A feature of constant series: the poller appends what Prometheus
	// evaluated.
	cfg.Features = []features.Feature{{Name: "secured_one",
		Expr: `label_replace(label_replace(vector(1), "namespace", "shop", "", ""), "pod", "cart-0", "", "")`}}
	cfg.EventFeatures, cfg.Labels = nil, nil
	untrusted := f.settings()
	untrusted.TLSConfig.CAFile = otherCA.File
	cfg.Prometheus = []config.PollerConfig{
		{URL: prom, Name: "secured", HTTPClientConfig: f.settings()},
		{URL: prom, Name: "untrusted", HTTPClientConfig: untrusted},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if errs := append(checkHTTPClients(cfg), CheckConnectionFiles(cfg)...); len(errs) > 0 {
		t.Fatalf("the settings do not check: %v", errs)
	}
	srv := startEmbeddedNATS(t)
	logs := &testenv.SyncBuffer{}
	reg := prometheus.NewRegistry()
	rec := &sampleRecorder{}
	src, err := newSources(sourceOptions{Config: cfg, NATSURL: srv, Appender: rec, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.nc.Close)
	secured, other := src.pollers[0], src.pollers[1]
	ctx := context.Background()

	if err := secured.Eval(ctx, time.Now()); err != nil {
		t.Fatalf("poll the secured Prometheus: %v", err)
	}
	if got := rec.values("secured_one"); !slices.Equal(got, []float64{1}) {
		t.Fatalf("appended %v for secured_one, want [1]", got)
	}

	const wrong = "wr0ng-Pass-word"
	f.writePassword(t, wrong)
	err = secured.Eval(ctx, time.Now())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("poll with a wrong password: %v, want a 401", err)
	}
	t.Logf("wrong password: %v", err)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var errCount float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if mf.GetName() == "omen_prometheus_queries_total" && l.GetName() == "outcome" && l.GetValue() == "error" {
					errCount += m.GetCounter().GetValue()
				}
			}
		}
	}
	if errCount == 0 {
		t.Errorf("omen_prometheus_queries_total{outcome=\"error\"} did not count the 401")
	}

	f.writePassword(t, f.password) // rotated: the next query reads it
	if err := secured.Eval(ctx, time.Now()); err != nil {
		t.Fatalf("poll after the password file was rewritten: %v", err)
	}
	if got := rec.values("secured_one"); !slices.Equal(got, []float64{1, 1}) {
		t.Fatalf("appended %v for secured_one, want [1 1]", got)
	}

	caErr := other.Eval(ctx, time.Now())
	if err = caErr; err == nil || !strings.Contains(err.Error(), serverCN) || !strings.Contains(err.Error(), otherCA.File) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("poll with another CA: %v, want an error naming the server's certificate %q and the ca_file %s", err, serverCN, otherCA.File)
	}

	t.Logf("another CA: %v", caErr)
	// Neither password anywhere: errors, logs, metrics.
	if mfs, err = reg.Gather(); err != nil {
		t.Fatal(err)
	}
	shown := caErr.Error() + logs.String() + fmt.Sprint(mfs)
	for _, pw := range []string{f.password, wrong} {
		if strings.Contains(shown, pw) {
			t.Errorf("a password is shown:\n%s", shown)
		}
	}
}

// startEmbeddedNATS starts the embedded NATS server the sources connect
// to and returns its URL.
func startEmbeddedNATS(t *testing.T) string {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{ListenAddress: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv.ClientURL()
}

// TestAlertmanagerTLSReload: alerts reach a Debian Alertmanager secured
// with --web.config.file (TLS with a private CA, a client certificate
// required, basic auth) through an alerting.alertmanagers entry's
// tls_config and basic_auth; with the CA of its tls_config another, the
// POSTs fail (and are retried), and a reload that gives the entry the
// right CA takes effect: the alert is delivered.
func TestAlertmanagerTLSReload(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	f := newSecuredFixture(t)
	am := testenv.AlertmanagerWeb(t, f.web)
	otherCA := testenv.NewCA(t, f.dir, "omen-other-ca")
	st, err := store.Open(store.Options{InMemory: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	withCA := func(caFile string) *config.Config {
		cfg := testConfig(t)
		s := f.settings()
		s.TLSConfig.CAFile = caFile
		cfg.Alerting.Alertmanagers = []config.AlertmanagerConfig{{URL: am, HTTPClientConfig: s}}
		return cfg
	}
	cfg := withCA(otherCA.File)
	logs := &testenv.SyncBuffer{}
	al, err := newAlerter(alerterOptions{Store: st, Config: cfg, ListenAddress: "127.0.0.1:1", Step: time.Minute,
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- al.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		_ = al.close(context.Background())
	})
	t0 := time.Now().Truncate(time.Minute).UnixMilli()
	for i := range 2 { // alerting.for: 2
		ts := t0 + int64(i)*time.Minute.Milliseconds()
		pr := prediction{Prediction: store.Prediction{ID: store.PredictionID("shop/cart-0", ts), Entity: "shop/cart-0",
			T: ts, Prob: 0.8, Threshold: 0.5}, Labels: map[string]string{"namespace": "shop", "pod": "cart-0"}}
		al.process(context.Background(), ts, []prediction{pr}, nil)
	}
	if len(al.Alerts()) != 1 {
		t.Fatalf("alerts %+v, want one firing", al.Alerts())
	}
	active := func() ([]map[string]any, error) {
		var as []map[string]any
		err := f.get(t, am+"/api/v2/alerts", &as)
		return as, err
	}
	waitFor(t, "a failed POST to the Alertmanager whose certificate does not verify", 20*time.Second, func() bool {
		return strings.Contains(logs.String(), serverCN)
	})
	if as, err := active(); err != nil || len(as) != 0 {
		t.Fatalf("alerts in Alertmanager before the reload: %v, %v; want none", as, err)
	}

	next := withCA(f.ca.File)
	if err := al.checkConfig(next); err != nil {
		t.Fatal(err)
	}
	if err := al.setConfig(next); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the alert in Alertmanager after the reload", 20*time.Second, func() bool {
		as, err := active()
		return err == nil && len(as) == 1
	})
	if strings.Contains(logs.String(), f.password) {
		t.Errorf("the password is logged:\n%s", logs.String())
	}
}

// TestConnectionFileMissing: a configuration whose alertmanager entry's
// basic_auth.password_file does not exist does not start omen, and a
// reload to it is refused, naming the key and the file, with nothing
// changed (the Alertmanager set stays the running one).
func TestConnectionFileMissing(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing-password")
	alerting := func(file string) string {
		return fmt.Sprintf("alerting:\n  alertmanagers:\n    - url: http://127.0.0.1:1\n      basic_auth: {username: omen, password_file: %q}\n", file)
	}
	wantErr := fmt.Sprintf("alerting.alertmanagers[0].basic_auth.password_file %q: no such file or directory", missing)

	cfg, err := config.Load("omen.yml", []byte(testConfigYAML+alerting(missing)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, ListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(), NATSListenAddress: "127.0.0.1:0",
		ShutdownTimeout: 20 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("start: %v, want %q", err, wantErr)
	}

	file, write := configFileWriter(t)
	write(testConfigYAML + alerting(pw))
	a = startApp(t, t.TempDir(), func(o *Options) { o.Config, o.ConfigFile = nil, file })
	write(testConfigYAML + alerting(missing))
	err = a.Reload()
	if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), "nothing was reloaded") {
		t.Fatalf("reload: %v, want %q and nothing reloaded", err, wantErr)
	}
	if got := a.cfg.Load().Alerting.Alertmanagers[0].BasicAuth.PasswordFile; got != pw {
		t.Errorf("password_file in force %q after the refused reload, want %q", got, pw)
	}
}

// TestClientSettingsFileMissing: a poller and an Alertmanager client whose
// basic_auth.password_file was moved away fail with an error that says
// omen's client settings do not read, naming the file, not that the
// server is failing; the poller sends nothing and retries nothing (each
// query fails at once, so the poll's other queries are tried too, and
// fail the same way).
func TestClientSettingsFileMissing(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := config.HTTPClientConfig{BasicAuth: config.BasicAuth{Username: "omen", PasswordFile: pwFile}}
	rt, err := h.RoundTripper("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p, err := stream.NewPoller(&sampleRecorder{}, stream.PollerOptions{URL: srv.URL, Name: "secured",
		Queries: map[string]string{"down": "up", "other": "vector(1)"}, MaxRetries: 3,
		RetryBackoff: time.Millisecond, RoundTripper: rt}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Eval(ctx, time.Now()); err != nil {
		t.Fatalf("poll with the password file in place: %v", err)
	}
	sent := requests.Load()
	if err := os.Remove(pwFile); err != nil {
		t.Fatal(err)
	}
	err = p.Eval(ctx, time.Now())
	if err == nil {
		t.Fatal("poll without the password file: no error")
	}
	t.Logf("poll: %v", err)
	for _, name := range []string{"down", "other"} {
		if want := fmt.Sprintf("query %q", name); !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	for _, want := range []string{"reading omen's client settings: unable to read basic auth password", pwFile, "no such file or directory"} {
		if strings.Count(err.Error(), want) < 2 {
			t.Errorf("error does not say %q for each query: %v", want, err)
		}
	}
	for _, bad := range []string{"server failing", "not sent", "retries"} {
		if strings.Contains(err.Error(), bad) {
			t.Errorf("error says %q: %v", bad, err)
		}
	}
	if n := requests.Load() - sent; n != 0 {
		t.Errorf("%d requests sent without the password", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if mf.GetName() == "omen_prometheus_queries_total" && l.GetName() == "outcome" && l.GetValue() == "retry" && m.GetCounter().GetValue() > 0 {
					t.Errorf("queries retried: %v", m)
				}
			}
		}
	}

	// The Alertmanager sender's client (config's Client, as app/alerts.go
	// makes it) says the same.
	c, err := h.Client("alertmanager")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Post(srv.URL+"/api/v2/alerts", "application/json", strings.NewReader("[]"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("post without the password file: no error")
	}
	if want := "reading omen's client settings: unable to read basic auth password"; !strings.Contains(err.Error(), want) {
		t.Errorf("post: %v, want %q", err, want)
	}
}
