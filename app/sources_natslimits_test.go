package app

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/stream/decode"
	"github.com/omen-sre/omen/telemetry"
)

// ingestErrors returns omen_ingest_errors_total{reason=reason} of a.
func ingestErrors(t *testing.T, a *App, reason string) float64 {
	t.Helper()
	mfs, err := a.opts.Gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "omen_ingest_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// storedPods returns the pod label of every sample stored so far, sorted.
func storedPods(t *testing.T, a *App) []string {
	t.Helper()
	var pods []string
	err := a.Store().ReplayBatches(0, func(b telemetry.Batch) error {
		for _, s := range b.Samples {
			pods = append(pods, s.Labels.Get("pod"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(pods)
	return pods
}

// TestNATSDecoderLimitsConfigured: nats.max_labels reaches the running
// consumer, at start and by a reload. A NATS message holds a series of 3
// labels and one of 5 (__name__ included): under max_labels 4 the larger
// is dropped, counted as too_many_labels (the documented reason), and the
// smaller stored; after a reload to 5 both are stored, with no restart
// warning; a reload to a negative value fails and changes nothing.
func TestNATSDecoderLimitsConfigured(t *testing.T) {
	limit := func(n int) string { return fmt.Sprintf("nats:\n  max_labels: %d\n", n) }
	a, write, logs := reloadableApp(t, limit(4))
	send := func(round int) {
		ts := time.Now().UnixNano()
		msg := fmt.Sprintf("few,namespace=shop,pod=few-%d v=1 %d\nmany,namespace=shop,pod=many-%d,container=app,zone=z v=1 %d\n", round, ts, round, ts)
		publish(t, a.NATSURL(), "omen.metrics.influx", []byte(msg))
	}
	tooMany := func() float64 { return ingestErrors(t, a, decode.ReasonTooManyLabels) }
	steps := []struct {
		name      string
		reload    string // the nats section reloaded before sending; "" for none
		reloadErr string
		tooMany   float64  // too_many_labels after the message
		pods      []string // stored after the message
	}{
		{name: "max_labels 4 at start", tooMany: 1, pods: []string{"few-0"}},
		{name: "a negative max_labels is refused", reload: limit(-1), reloadErr: "max_labels must not be negative",
			tooMany: 2, pods: []string{"few-0", "few-1"}},
		{name: "reloaded to 5", reload: limit(5), tooMany: 2, pods: []string{"few-0", "few-1", "few-2", "many-2"}},
		{name: "reloaded to 4 again", reload: limit(4), tooMany: 3, pods: []string{"few-0", "few-1", "few-2", "few-3", "many-2"}},
	}
	for round, st := range steps {
		if st.reload != "" {
			write(st.reload)
			reloadChecked(t, a, logs, st.name, st.reloadErr)
		}
		send(round)
		waitFor(t, st.name+": the message's stored series", 20*time.Second, func() bool {
			return len(storedPods(t, a)) == len(st.pods) && tooMany() == st.tooMany
		})
		if got := storedPods(t, a); !slices.Equal(got, st.pods) {
			t.Fatalf("%s: stored pods %q, want %q", st.name, got, st.pods)
		}
	}
}

// TestNATSDecodeOptionsFromConfig: every nats decoder key, the ingest
// time window and the lookback (the label caches' idle time, as the
// remote-write receiver's; it was the decoders' default, 10m) reach their
// decode.Options field; the keys left out take the daemon's defaults.
func TestNATSDecodeOptionsFromConfig(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		want decode.Options
	}{
		{name: "every key", yml: `
lookback: 17m
ingest:
  max_sample_age: 3h
  max_sample_future: 7m
nats:
  max_message_bytes: 4096
  max_labels: 11
  max_label_value_length: 12
  max_influx_fields: 13
  influx_precision: 1ms
  required_labels: [namespace, pod]
  label_cache_size: 14
`, want: decode.Options{MaxAge: 3 * time.Hour, MaxFuture: 7 * time.Minute, MaxMessageBytes: 4096,
			MaxLabels: 11, MaxLabelValueLen: 12, MaxInfluxFields: 13, Precision: time.Millisecond,
			RequiredLabels: []string{"namespace", "pod"}, CacheSize: 14, CacheIdle: 17 * time.Minute}},
		{name: "defaults", yml: "", want: decode.Options{MaxAge: 2 * time.Hour, MaxFuture: 10 * time.Minute,
			MaxMessageBytes: 1 << 20, MaxLabels: 64, MaxLabelValueLen: 2048, MaxInfluxFields: 1024,
			Precision: time.Nanosecond, CacheSize: 1 << 18, CacheIdle: time.Duration(config.Default().Lookback)}},
		{name: "seconds, micro sign", yml: "nats:\n  influx_precision: 1µs\n", want: decode.Options{MaxAge: 2 * time.Hour, MaxFuture: 10 * time.Minute,
			MaxMessageBytes: 1 << 20, MaxLabels: 64, MaxLabelValueLen: 2048, MaxInfluxFields: 1024,
			Precision: time.Microsecond, CacheSize: 1 << 18, CacheIdle: time.Duration(config.Default().Lookback)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, tt.yml)
			l, err := natsDecodeLimitsOf(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := decodeOptions(cfg.Ingest, time.Duration(cfg.Resolved().Lookback), l); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decode options\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// TestSourcesRestartOnlyKeys: the keys a reload warns about are those
// the running sources cannot take; the decoders' and the receiver's
// limits are not among them.
func TestSourcesRestartOnlyKeys(t *testing.T) {
	base := loadConfig(t, testConfigYAML)
	tests := []struct {
		name string
		yml  string
		want []string
	}{
		{name: "nothing changed", yml: "", want: nil},
		{name: "nats decoder limits", yml: "nats:\n  max_labels: 3\n  max_message_bytes: 100\n  max_label_value_length: 5\n  max_influx_fields: 7\n", want: nil},
		{name: "nats decoder options", yml: "nats:\n  influx_precision: 1s\n  required_labels: [pod]\n  label_cache_size: 100\n", want: nil},
		{name: "remote_write limits", yml: "remote_write:\n  max_in_flight: 1\n  max_samples_per_request: 5\n", want: nil},
		{name: "nats stream", yml: "nats:\n  stream: OTHER\n  max_labels: 3\n", want: []string{"nats"}},
		{name: "remote_write disabled", yml: "remote_write:\n  disabled: true\n", want: []string{"remote_write.disabled"}},
		// nats.max_age defaults to max_sample_age + 1h: the stream's
		// retention changes with it, at the next start.
		{name: "ingest window", yml: "ingest:\n  max_sample_age: 1h\n", want: []string{"ingest", "nats"}},
		{name: "ingest window, stream retention set", yml: "ingest:\n  max_sample_age: 1h\nnats:\n  max_age: 3h\n", want: []string{"ingest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := restartOnlyOf(base).changed(restartOnlyOf(loadConfig(t, testConfigYAML+tt.yml)))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("restart-only keys %q, want %q", got, tt.want)
			}
		})
	}
}

// reloadChecked reloads a and fails the test unless the reload's error
// names wantErr (""; none) and no restart warning was logged for it (a
// reloadable change); name identifies the step.
func reloadChecked(t *testing.T, a *App, logs *testenv.SyncBuffer, name, wantErr string) {
	t.Helper()
	before := len(logs.String())
	err := a.Reload()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("%s: reload: %v", name, err)
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Fatalf("%s: reload = %v, want an error naming %q", name, err, wantErr)
	}
	if logged := logs.String()[before:]; strings.Contains(logged, "not applied until restart") {
		t.Errorf("%s: a restart warning for a reloadable change:\n%s", name, logged)
	}
}
