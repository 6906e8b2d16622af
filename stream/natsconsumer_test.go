package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/stream/decode"
	"github.com/omen-sre/omen/stream/natsembed"
	"github.com/omen-sre/omen/telemetry"
)

// natsServers are the two NATS servers every consumer test runs against.
var natsServers = []struct {
	name  string
	start func(t *testing.T) string
}{
	{"embedded", func(t *testing.T) string {
		srv, err := natsembed.Start(natsembed.Options{ListenAddress: "127.0.0.1:0", StoreDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
		return srv.ClientURL()
	}},
	{"debian", func(t *testing.T) string { return testenv.NATSServer(t) }},
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// connectJS connects to url (as connect does) and returns a JetStream
// context on the connection.
func connectJS(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := connect(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// verifyNoLeaks checks, after every other cleanup of t has run, that t
// left no goroutines behind.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	testenv.VerifyNoLeaks(t)
}

// runConsumer starts c.Run and returns a function that stops it and
// returns Run's error.
func runConsumer(t *testing.T, c *NATSConsumer) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("Run did not return within 30s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func testNATSOptions() NATSOptions {
	return NATSOptions{FetchWait: 50 * time.Millisecond, NakDelay: 50 * time.Millisecond, AckWait: 5 * time.Second}
}

func newConsumer(t *testing.T, nc *nats.Conn, app Appender, opts NATSOptions, reg prometheus.Registerer) *NATSConsumer {
	t.Helper()
	c, err := NewNATSConsumer(nc, app, opts, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func publish(t *testing.T, js jetstream.JetStream, subject, contentType, body string) uint64 {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = []byte(body)
	if contentType != "" {
		m.Header.Set("Content-Type", contentType)
	}
	ack, err := js.PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	return ack.Sequence
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// setupStreams creates the stream and consumer before publishing.
func setupStreams(t *testing.T, c *NATSConsumer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Setup(ctx); err != nil {
		t.Fatal(err)
	}
}

func fetchDLQ(t *testing.T, js jetstream.JetStream, n int) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, DefaultDLQStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for len(out) < n {
		b, err := cons.Fetch(n-len(out), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range b.Messages() {
			out = append(out, m)
			got++
		}
		if got == 0 {
			t.Fatalf("dead-letter stream holds %d messages, want %d", len(out), n)
		}
	}
	return out
}

func TestNATSConsumerFormatsAndDeadLetter(t *testing.T) {
	for _, srv := range natsServers {
		t.Run(srv.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, srv.start(t))
			app := &MemAppender{}
			reg := prometheus.NewRegistry()
			opts := testNATSOptions()
			opts.Decode.MaxMessageBytes = 1500
			c := newConsumer(t, nc, app, opts, reg)
			setupStreams(t, c)

			now := time.Now()
			ns := now.UnixNano()
			ms := now.UnixMilli()
			publish(t, js, "omen.metrics.influx", "", fmt.Sprintf(
				"cpu,namespace=shop,pod=cart-1 usage=0.5,throttled=3i %d\nmem,namespace=shop,pod=cart-1 value=1024 %d\n", ns, ns))
			publish(t, js, "omen.metrics.prom", "", fmt.Sprintf(
				"# TYPE kube_pod_container_status_restarts_total counter\nkube_pod_container_status_restarts_total{namespace=\"shop\",pod=\"cart-1\",container=\"cart\"} 7 %d\n", ms))
			publish(t, js, "omen.metrics", "application/json", fmt.Sprintf(
				`{"samples":[{"labels":{"__name__":"probe_success","namespace":"shop","pod":"cart-1"},"t":%d,"v":1}]}`, ms))
			publish(t, js, "omen.events.k8s", "", fmt.Sprintf(`{"metadata":{"name":"cart-1.17","namespace":"shop","uid":"u-1"},
				"involvedObject":{"kind":"Pod","namespace":"shop","name":"cart-1","fieldPath":"spec.containers{cart}"},
				"reason":"BackOff","message":"Back-off restarting failed container","type":"Warning","count":3,
				"lastTimestamp":%q}`, now.UTC().Format(time.RFC3339)))
			publish(t, js, "omen.events.module", "", fmt.Sprintf(
				`{"time":%d,"namespace":"shop","pod":"cart-1","module":"payments","reason":"ModuleLoadError","level":"error","message":"cannot load"}`, ms))
			// Only string fields (Telegraf's systemd_units, one metric a
			// message): skipped and acknowledged, not dead-lettered (the
			// dead_letter count fired OmenIngestErrors), counted in
			// omen_ingest_ignored_samples_total{kind="string_field"}.
			publish(t, js, "omen.metrics.influx", "", fmt.Sprintf(`systemd_units,host=a,name=foo.service active="active",sub="running" %d`, ns))
			poisonSeq := publish(t, js, "omen.metrics.influx", "", "this is not line protocol at all")
			unknownSeq := publish(t, js, "omen.metrics.xml", "", "<x/>")
			largeSeq := publish(t, js, "omen.metrics.influx", "", strings.Repeat(fmt.Sprintf("big v=1 %d\n", ns), 100))

			stop := runConsumer(t, c)
			waitFor(t, "all samples and events", func() bool {
				s, e, _ := app.Counts()
				return s >= 5 && e >= 2
			})
			dlq := fetchDLQ(t, js, 3)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if s, e, d := app.Counts(); s != 5 || e != 2 || d != 0 {
				t.Fatalf("stored %d samples, %d events, %d duplicates; want 5, 2, 0", s, e, d)
			}
			byName := map[string]telemetry.Sample{}
			for _, s := range app.Samples() {
				byName[s.Labels.Get(pmodel.MetricNameLabel)] = s
			}
			for name, v := range map[string]float64{
				"cpu_usage": 0.5, "cpu_throttled": 3, "mem": 1024,
				"kube_pod_container_status_restarts_total": 7, "probe_success": 1,
			} {
				s, ok := byName[name]
				if !ok || s.V != v || s.Labels.Get("pod") != "cart-1" || s.T != ms {
					t.Fatalf("sample %s = %+v (present %v), want value %v at %d", name, s, ok, v, ms)
				}
			}
			reasons := map[string]bool{}
			for _, e := range app.Events() {
				reasons[e.Reason] = true
			}
			if !reasons["BackOff"] || !reasons["ModuleLoadError"] {
				t.Fatalf("events %v", app.Events())
			}
			for _, b := range app.Batches() {
				if !strings.HasPrefix(b.Source, "nats/OMEN/omen@") || b.Source != c.Source() || b.Seq == 0 || b.Received == 0 {
					t.Fatalf("batch header %+v", b)
				}
			}
			want := map[string]string{fmt.Sprint(poisonSeq): "malformed", fmt.Sprint(unknownSeq): "unknown_format", fmt.Sprint(largeSeq): "too_large"}
			for _, m := range dlq {
				h := m.Headers()
				seq := h.Get(HeaderDLQSequence)
				if want[seq] == "" || h.Get(HeaderDLQReason) != want[seq] || h.Get(HeaderDLQStream) != "OMEN" ||
					!strings.HasPrefix(h.Get(HeaderDLQSubject), "omen.metrics.") || h.Get(HeaderDLQError) == "" {
					t.Fatalf("dead letter headers %v, want reasons %v", h, want)
				}
				delete(want, seq)
			}
			if v := counterValue(t, reg, "omen_ingest_errors_total", "reason", ReasonDeadLetter); v != 3 {
				t.Fatalf("dead_letter errors = %v, want 3", v)
			}
			// String fields are left out by design: ignored, not errors.
			if m := metricOf(t, reg, "omen_ingest_errors_total", "reason", decode.ReasonStringField); m != nil {
				t.Fatalf("omen_ingest_errors_total{reason=string_field} = %v, want absent", m)
			}
			if v := counterValue(t, reg, "omen_ingest_ignored_samples_total", "kind", decode.ReasonStringField); v != 2 {
				t.Fatalf("omen_ingest_ignored_samples_total{kind=string_field} = %v, want 2", v)
			}
			if m := metricOf(t, reg, "omen_ingest_ignored_samples_total", "kind", decode.ReasonStringField); m.GetLabel()[1].GetValue() != "nats/OMEN/omen" {
				t.Fatalf("ignored string fields counted as %v, want source nats/OMEN/omen", m.GetLabel())
			}
			if v := counterValue(t, reg, "omen_ingested_samples_total", "source", "nats/OMEN/omen"); v != 5 {
				t.Fatalf("ingested samples counter = %v, want 5", v)
			}
			// Everything was acknowledged or terminated: nothing pending.
			ci, err := js.Consumer(context.Background(), "OMEN", "omen")
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "no pending acks", func() bool {
				info, err := ci.Info(context.Background())
				return err == nil && info.NumAckPending == 0 && info.NumPending == 0
			})
		})
	}
}

// storeThenFail stores batches but reports a failure the first n times, as
// when the commit succeeded but its acknowledgement was lost.
type storeThenFail struct {
	*MemAppender
	mu sync.Mutex
	n  int
}

func (s *storeThenFail) Append(ctx context.Context, b []telemetry.Batch) error {
	if err := s.MemAppender.Append(ctx, b); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n > 0 {
		s.n--
		return errors.New("commit outcome unknown")
	}
	return nil
}

func TestNATSConsumerRedelivery(t *testing.T) {
	for _, srv := range natsServers {
		t.Run(srv.name, func(t *testing.T) {
			verifyNoLeaks(t)
			nc, js := connectJS(t, srv.start(t))
			for _, tc := range []struct {
				name    string
				app     func() (Appender, *MemAppender)
				wantDup bool
			}{
				{"append fails", func() (Appender, *MemAppender) {
					m := &MemAppender{}
					m.FailNext(2, errors.New("disk unavailable"))
					return m, m
				}, false},
				{"stored but reported failed", func() (Appender, *MemAppender) {
					m := &MemAppender{}
					return &storeThenFail{MemAppender: m, n: 1}, m
				}, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					app, mem := tc.app()
					opts := testNATSOptions()
					opts.Durable = "redeliver-" + strings.ReplaceAll(tc.name, " ", "-")
					subject := "omen.metrics.influx." + opts.Durable
					opts.FilterSubjects = []string{subject}
					c := newConsumer(t, nc, app, opts, prometheus.NewRegistry())
					setupStreams(t, c)
					ts := time.Now().UnixNano()
					for i := range 10 {
						publish(t, js, subject, "", fmt.Sprintf("redeliver,i=%d v=%d %d", i, i, ts))
					}
					stop := runConsumer(t, c)
					waitFor(t, "10 samples", func() bool {
						s, _, _ := mem.Counts()
						return s >= 10 && mem.Calls() >= 2
					})
					// Give a wrong redelivery time to show up.
					time.Sleep(300 * time.Millisecond)
					if err := stop(); err != nil {
						t.Fatal(err)
					}
					samples, _, dups := mem.Counts()
					if samples != 10 {
						t.Fatalf("stored %d samples, want exactly 10", samples)
					}
					if tc.wantDup && dups == 0 {
						t.Fatal("redelivered batches were not deduplicated (no duplicates seen)")
					}
				})
			}
		})
	}
}

func TestNATSConsumerRestartResumes(t *testing.T) {
	for _, srv := range natsServers {
		t.Run(srv.name, func(t *testing.T) {
			verifyNoLeaks(t)
			url := srv.start(t)
			nc, js := connectJS(t, url)
			app := &MemAppender{}
			pub := func(from, to int) {
				ts := time.Now().UnixNano()
				for i := from; i < to; i++ {
					publish(t, js, "omen.metrics", "", fmt.Sprintf("restart,i=%d v=%d %d", i, i, ts))
				}
			}
			c1 := newConsumer(t, nc, app, testNATSOptions(), prometheus.NewRegistry())
			setupStreams(t, c1)
			pub(0, 50)
			stop := runConsumer(t, c1)
			waitFor(t, "first 50", func() bool { s, _, _ := app.Counts(); return s >= 50 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			pub(50, 120) // while no consumer runs

			// A new consumer on a new connection resumes the durable.
			nc2 := connect(t, url)
			c2 := newConsumer(t, nc2, app, testNATSOptions(), prometheus.NewRegistry())
			stop = runConsumer(t, c2)
			waitFor(t, "all 120", func() bool { s, _, _ := app.Counts(); return s >= 120 })
			time.Sleep(200 * time.Millisecond)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			s, _, dups := app.Counts()
			if s != 120 {
				t.Fatalf("stored %d samples, want 120", s)
			}
			seen := map[string]bool{}
			for _, smp := range app.Samples() {
				i := smp.Labels.Get("i")
				if seen[i] {
					t.Fatalf("sample i=%s stored twice (dups %d)", i, dups)
				}
				seen[i] = true
			}
		})
	}
}

func TestNATSConsumerPartitions(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	apps := []*MemAppender{{}, {}}
	var stops []func() error
	for p, app := range apps {
		opts := testNATSOptions()
		opts.Durable = fmt.Sprintf("omen-p%d", p)
		opts.FilterSubjects = []string{fmt.Sprintf("omen.metrics.*.%d", p), fmt.Sprintf("omen.events.*.%d", p)}
		c := newConsumer(t, nc, app, opts, prometheus.NewRegistry())
		setupStreams(t, c)
		stops = append(stops, runConsumer(t, c))
	}
	ts := time.Now().UnixNano()
	for i := range 20 {
		publish(t, js, fmt.Sprintf("omen.metrics.influx.%d", i%2), "", fmt.Sprintf("part,i=%d,p=%d v=1 %d", i, i%2, ts))
	}
	waitFor(t, "both partitions", func() bool {
		a, _, _ := apps[0].Counts()
		b, _, _ := apps[1].Counts()
		return a+b >= 20
	})
	for _, stop := range stops {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	for p, app := range apps {
		s, _, _ := app.Counts()
		if s != 10 {
			t.Fatalf("partition %d stored %d samples, want 10", p, s)
		}
		for _, smp := range app.Samples() {
			if smp.Labels.Get("p") != fmt.Sprint(p) {
				t.Fatalf("partition %d got %s", p, smp.Labels)
			}
		}
	}
}

func TestNATSOptionsValidation(t *testing.T) {
	for _, o := range []NATSOptions{
		{AckWait: 10 * time.Millisecond},
		{FetchBatch: -1},
		{MaxAckPending: 10, FetchBatch: 100},
		{MaxDeliver: -2},
		{StreamReplicas: 7},
		{NakDelay: -1},
		{MaxBufferedBytes: 1000},
		{MaxBatchBytes: -1},
	} {
		if _, err := o.withDefaults(); err == nil {
			t.Fatalf("options %+v accepted", o)
		}
	}
	o, err := (&NATSOptions{}).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Stream != "OMEN" || o.Durable != "omen" || o.DLQSubject != "omen.dlq" || o.MaxDeliver != -1 || len(o.Subjects) != 4 || o.MaxBatchBytes != 4<<20 {
		t.Fatalf("defaults %+v", o)
	}
}

// rejectLabel refuses, as permanently invalid, any call holding a sample
// with the label bad="1".
type rejectLabel struct{ *MemAppender }

func (r rejectLabel) Append(ctx context.Context, bs []telemetry.Batch) error {
	for _, b := range bs {
		for _, s := range b.Samples {
			if s.Labels.Get("bad") == "1" {
				return fmt.Errorf("sample %s: %w", s.Labels, ErrInvalid)
			}
		}
	}
	return r.MemAppender.Append(ctx, bs)
}

func TestNATSConsumerAppendInvalid(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	mem := &MemAppender{}
	reg := prometheus.NewRegistry()
	c := newConsumer(t, nc, rejectLabel{mem}, testNATSOptions(), reg)
	setupStreams(t, c)
	ts := time.Now().UnixNano()
	var badSeq uint64
	for i := range 5 {
		bad := 0
		if i == 2 {
			bad = 1
		}
		seq := publish(t, js, "omen.metrics.influx", "", fmt.Sprintf("m,i=%d,bad=%d v=1 %d", i, bad, ts))
		if bad == 1 {
			badSeq = seq
		}
	}
	stop := runConsumer(t, c)
	dlq := fetchDLQ(t, js, 1)
	waitFor(t, "4 good samples", func() bool { s, _, _ := mem.Counts(); return s >= 4 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := mem.Counts(); s != 4 {
		t.Fatalf("stored %d samples, want 4", s)
	}
	h := dlq[0].Headers()
	if h.Get(HeaderDLQReason) != "invalid" || h.Get(HeaderDLQSequence) != fmt.Sprint(badSeq) {
		t.Fatalf("dead letter headers %v, want reason invalid, sequence %d", h, badSeq)
	}
}

// TestNATSConsumerReleasesBuffered stops a consumer that has messages
// pulled ahead and checks that another consumer of the same durable gets
// them at once, not after AckWait.
func TestNATSConsumerReleasesBuffered(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	mem := &MemAppender{}
	opts := testNATSOptions()
	opts.AckWait = time.Minute
	opts.FetchBatch = 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := AppenderFunc(func(actx context.Context, b []telemetry.Batch) error {
		err := mem.Append(actx, b)
		cancel() // stop after the first stored batch
		return err
	})
	c1 := newConsumer(t, nc, first, opts, prometheus.NewRegistry())
	setupStreams(t, c1)
	ts := time.Now().UnixNano()
	for i := range 200 {
		publish(t, js, "omen.metrics", "", fmt.Sprintf("release,i=%d v=1 %d", i, ts))
	}
	if err := c1.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := mem.Counts(); s < 1 || s == 200 {
		t.Fatalf("first consumer stored %d samples, want a few", s)
	}
	start := time.Now()
	c2 := newConsumer(t, nc, mem, opts, prometheus.NewRegistry())
	stop := runConsumer(t, c2)
	waitFor(t, "all 200 samples", func() bool { s, _, _ := mem.Counts(); return s >= 200 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("second consumer needed %s: buffered messages were not released", d)
	}
	if s, _, _ := mem.Counts(); s != 200 {
		t.Fatalf("stored %d samples, want 200", s)
	}
}

// TestNATSConsumerPipelineOrder uses a slow store, so that decoding
// overlaps Append, and checks that batches arrive once each and in stream
// order.
func TestNATSConsumerPipelineOrder(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	mem := &MemAppender{}
	var calls atomic.Int32
	var inFlight atomic.Int32
	slow := AppenderFunc(func(ctx context.Context, b []telemetry.Batch) error {
		if inFlight.Add(1) > 1 {
			t.Error("concurrent Append calls from one consumer")
		}
		defer inFlight.Add(-1)
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
		return mem.Append(ctx, b)
	})
	opts := testNATSOptions()
	opts.FetchBatch = 7
	c := newConsumer(t, nc, slow, opts, prometheus.NewRegistry())
	setupStreams(t, c)
	ts := time.Now().UnixNano()
	for i := range 100 {
		publish(t, js, "omen.metrics", "", fmt.Sprintf("order,i=%d v=%d %d", i, i, ts))
	}
	stop := runConsumer(t, c)
	waitFor(t, "100 samples", func() bool { s, _, _ := mem.Counts(); return s >= 100 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var last uint64
	for _, b := range mem.Batches() {
		if b.Seq <= last {
			t.Fatalf("batch seq %d after %d: out of order", b.Seq, last)
		}
		last = b.Seq
	}
	if s, _, d := mem.Counts(); s != 100 || d != 0 {
		t.Fatalf("stored %d samples with %d duplicates, want 100 and 0", s, d)
	}
	if calls.Load() < 100/7 {
		t.Fatalf("%d Append calls, want at least %d (FetchBatch 7)", calls.Load(), 100/7)
	}
}

// TestNATSConsumerMaxBatchBytes: a backlog is drained in batches cut at
// MaxBatchBytes, without waiting FetchWait for each.
func TestNATSConsumerMaxBatchBytes(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	mem := &MemAppender{}
	var mu sync.Mutex
	var sizes []int
	rec := AppenderFunc(func(ctx context.Context, b []telemetry.Batch) error {
		mu.Lock()
		sizes = append(sizes, len(b))
		mu.Unlock()
		return mem.Append(ctx, b)
	})
	opts := testNATSOptions()
	opts.FetchBatch = 1000
	opts.FetchWait = time.Minute // only the byte limit (or the end of the backlog) cuts
	ts := time.Now().UnixNano()
	body := func(i int) string { return fmt.Sprintf("bytes,i=%03d v=%d %d", i, i, ts) }
	opts.MaxBatchBytes = 10 * len(body(0)) // 10 messages
	c := newConsumer(t, nc, rec, opts, prometheus.NewRegistry())
	setupStreams(t, c)
	for i := range 100 {
		publish(t, js, "omen.metrics", "", body(i))
	}
	start := time.Now()
	stop := runConsumer(t, c)
	waitFor(t, "90 samples", func() bool { s, _, _ := mem.Counts(); return s >= 90 })
	if el := time.Since(start); el > 30*time.Second {
		t.Fatalf("90 samples took %v", el)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range sizes {
		if n > 10 {
			t.Fatalf("Append calls with %v messages, want at most 10 each", sizes)
		}
	}
}

// TestNATSConsumerIdleRelease: once no message came for IdleRelease, the
// stages' scratch is dropped.
func TestNATSConsumerIdleRelease(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	mem := &MemAppender{}
	opts := testNATSOptions()
	opts.IdleRelease = 200 * time.Millisecond
	c := newConsumer(t, nc, mem, opts, prometheus.NewRegistry())
	setupStreams(t, c)
	ts := time.Now().UnixNano()
	for i := range 50 {
		publish(t, js, "omen.metrics", "", fmt.Sprintf("idle,i=%d v=%d %d", i, i, ts))
	}
	stop := runConsumer(t, c)
	waitFor(t, "50 samples", func() bool { s, _, _ := mem.Counts(); return s >= 50 })
	time.Sleep(4 * opts.IdleRelease)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for i := range c.stages {
		if st := &c.stages[i]; cap(st.res.Samples) != 0 || cap(st.batches) != 0 {
			t.Fatalf("stage %d keeps %d samples, %d batches of scratch", i, cap(st.res.Samples), cap(st.batches))
		}
	}
	// It still consumes afterwards.
	stop = runConsumer(t, c)
	publish(t, js, "omen.metrics", "", fmt.Sprintf("idle,i=50 v=50 %d", ts))
	waitFor(t, "51 samples", func() bool { s, _, _ := mem.Counts(); return s >= 51 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestNATSConsumerStreamLimits: the stream omen creates carries the
// configured retention and disk bound (none when MaxBytes is 0).
func TestNATSConsumerStreamLimits(t *testing.T) {
	verifyNoLeaks(t)
	nc, js := connectJS(t, natsServers[0].start(t))
	for _, tc := range []struct {
		stream   string
		maxBytes int64
		want     int64
	}{{"BOUNDED", 1 << 20, 1 << 20}, {"UNBOUNDED", 0, -1}} {
		opts := testNATSOptions()
		opts.Stream, opts.Subjects, opts.Durable = tc.stream, []string{strings.ToLower(tc.stream) + ".>"}, "omen-"+strings.ToLower(tc.stream)
		opts.MaxAge, opts.MaxBytes = time.Hour, tc.maxBytes
		opts.DLQStream, opts.DLQSubject = tc.stream+"_DLQ", "dlq."+strings.ToLower(tc.stream)
		setupStreams(t, newConsumer(t, nc, &MemAppender{}, opts, prometheus.NewRegistry()))
		s, err := js.Stream(context.Background(), tc.stream)
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		if cfg.MaxBytes != tc.want || cfg.MaxAge != time.Hour || cfg.Discard != jetstream.DiscardOld {
			t.Errorf("%s: max_bytes %d, max_age %v, discard %v; want %d, 1h, old", tc.stream, cfg.MaxBytes, cfg.MaxAge, cfg.Discard, tc.want)
		}
	}
}
