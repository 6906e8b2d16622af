package config

import (
	"errors"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load("empty.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.NATS.MaxBytes; got != 0 {
		t.Errorf("nats.max_bytes default %d, want 0 (no bound)", got)
	}
	if got := time.Duration(c.NATS.MaxAge); got != 3*time.Hour {
		t.Errorf("nats.max_age default %v, want 3h (ingest.max_sample_age 2h + 1h)", got)
	}
	c, err = Load("age.yml", []byte("ingest:\n  max_sample_age: 6h\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(c.NATS.MaxAge); got != 7*time.Hour {
		t.Errorf("nats.max_age default with max_sample_age 6h: %v, want 7h", got)
	}
	if c.NATS.Stream != "OMEN" || c.NATS.Durable != "omen" || c.NATS.DeadLetterSubject != "omen.dlq" {
		t.Errorf("nats defaults %+v", c.NATS)
	}
	if n := c.NATS; time.Duration(n.DeadLetterMaxAge) != 7*24*time.Hour || n.DeadLetterMaxBytes != -1 {
		t.Errorf("dead-letter stream defaults %s, %d; want 7d, -1 (no bound)", n.DeadLetterMaxAge, n.DeadLetterMaxBytes)
	}
	// The decoders' own defaults (decode.Options).
	if n := c.NATS; n.MaxMessageBytes != 1<<20 || n.MaxLabels != 64 || n.MaxLabelValueLength != 2048 || n.MaxInfluxFields != 1024 {
		t.Errorf("nats decoder limits %d %d %d %d, want 1048576 64 2048 1024", n.MaxMessageBytes, n.MaxLabels, n.MaxLabelValueLength, n.MaxInfluxFields)
	}
	if n := c.NATS; n.InfluxPrecision != "1ns" || n.RequiredLabels != nil || n.LabelCacheSize != 1<<18 {
		t.Errorf("nats decoder options %q %q %d, want 1ns, none, 262144", n.InfluxPrecision, n.RequiredLabels, n.LabelCacheSize)
	}
	if d, err := c.NATS.InfluxPrecisionUnit(); d != time.Nanosecond || err != nil {
		t.Errorf("default influx precision %v, %v; want 1ns", d, err)
	}
	if c.Alerting.For < 1 || c.Alerting.ResolveRatio <= 0 || c.Alerting.ResolveRatio > 1 {
		t.Errorf("alerting defaults %+v", c.Alerting)
	}
	if len(c.Features) == 0 {
		t.Error("no default features")
	}
	// The receiver's own defaults (stream.RemoteWriteOptions).
	want := RemoteWriteConfig{
		MaxDecodedBytes: 32 << 20, MaxSamplesPerRequest: 100_000, MaxSeriesPerRequest: 100_000,
		MaxInFlight: 4, InFlightWait: model.Duration(5 * time.Second), MaxLabels: 64, MaxLabelValueLength: 2048,
		LabelCacheSize: 1 << 18, LabelCacheBytes: 128 << 20, AppendTimeout: model.Duration(30 * time.Second),
	}
	if c.RemoteWrite != want {
		t.Errorf("remote_write defaults\n%+v\nwant\n%+v", c.RemoteWrite, want)
	}
	if d := Default(); d.RemoteWrite != want {
		t.Errorf("Default().RemoteWrite\n%+v\nwant\n%+v", d.RemoteWrite, want)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		yml     string
		wantErr string // substring; "" means valid
		check   func(*testing.T, *Config)
	}{
		{name: "unbounded stream", yml: "nats:\n  max_bytes: -1\n", check: func(t *testing.T, c *Config) {
			if c.NATS.MaxBytes != -1 {
				t.Errorf("max_bytes %d, want -1", c.NATS.MaxBytes)
			}
		}},
		{name: "bounded stream", yml: "nats:\n  max_bytes: 1073741824\n", check: func(t *testing.T, c *Config) {
			if c.NATS.MaxBytes != 1<<30 {
				t.Errorf("max_bytes %d", c.NATS.MaxBytes)
			}
		}},
		{name: "negative max_bytes", yml: "nats:\n  max_bytes: -2\n", wantErr: "x.yml:2:14: nats.max_bytes must be positive or -1"},
		// A merge of its own mapping: yaml.v3's error, not a stack
		// overflow placing it.
		{name: "merge of itself", yml: "alerting: &a\n  <<: *a\n", wantErr: "anchor 'a' value contains itself"},
		{name: "merge list of itself", yml: "alerting: &a\n  for: 3\n  <<: [*a]\n", wantErr: "anchor 'a' value contains itself"},
		// The dead-letter stream cannot capture a subject of the consumed
		// stream (JetStream refuses to create it: omen run failed at start).
		{name: "dead-letter subject under the stream's", yml: "nats:\n  dead_letter_subject: omen.metrics.dlq\n",
			wantErr: `x.yml:2:24: nats.dead_letter_subject: dead-letter subject "omen.metrics.dlq" is one of the stream's subjects (omen.metrics.>)`},
		{name: "dead-letter subject the stream's", yml: "nats:\n  dead_letter_subject: omen.events\n",
			wantErr: `x.yml:2:24: nats.dead_letter_subject: dead-letter subject "omen.events" is one of the stream's subjects (omen.events)`},
		{name: "dead-letter subject with a space", yml: "nats:\n  dead_letter_subject: \"omen dlq\"\n",
			wantErr: `x.yml:2:24: nats.dead_letter_subject: dead-letter subject: subject "omen dlq" contains whitespace`},
		{name: "dead-letter subject wildcard", yml: "nats:\n  dead_letter_subject: omen.dlq.*\n", wantErr: "has a wildcard"},
		{name: "dead-letter subject elsewhere", yml: "nats:\n  dead_letter_subject: omen.deadletter\n", check: func(t *testing.T, c *Config) {
			if c.NATS.DeadLetterSubject != "omen.deadletter" {
				t.Errorf("dead_letter_subject %q", c.NATS.DeadLetterSubject)
			}
		}},
		{name: "overlapping filter subjects", yml: "nats:\n  filter_subjects: [omen.metrics.>, omen.metrics.*.p0]\n", wantErr: `nats.filter_subjects[1]: filter subjects "omen.metrics.>" and "omen.metrics.*.p0" overlap`},
		{name: "bad filter subject", yml: "nats:\n  filter_subjects: [omen.*.*.p0, omen..p1]\n", wantErr: `x.yml:2:34: nats.filter_subjects[1]: subject "omen..p1" has an empty token`},
		{name: "dead-letter bounds", yml: "nats:\n  dead_letter_max_age: 2d\n  dead_letter_max_bytes: 1048576\n", check: func(t *testing.T, c *Config) {
			if time.Duration(c.NATS.DeadLetterMaxAge) != 48*time.Hour || c.NATS.DeadLetterMaxBytes != 1<<20 {
				t.Errorf("dead_letter_max_age %s, dead_letter_max_bytes %d", c.NATS.DeadLetterMaxAge, c.NATS.DeadLetterMaxBytes)
			}
		}},
		{name: "unbounded dead letters", yml: "nats:\n  dead_letter_max_bytes: -1\n", check: func(t *testing.T, c *Config) {
			if c.NATS.DeadLetterMaxBytes != -1 {
				t.Errorf("dead_letter_max_bytes %d", c.NATS.DeadLetterMaxBytes)
			}
		}},
		{name: "negative dead_letter_max_bytes", yml: "nats:\n  dead_letter_max_bytes: -2\n", wantErr: "x.yml:2:26: nats.dead_letter_max_bytes must be positive or -1 (no bound), got -2"},
		{name: "unknown field", yml: "nats:\n  max_byte: 5\n", wantErr: "max_byte"},
		{name: "negative storage", yml: "storage:\n  memtable_size: -1\n", wantErr: "storage sizes must not be negative"},
		{name: "alertmanager URL", yml: "alerting:\n  alertmanagers:\n    - url: ftp://x\n", wantErr: "scheme must be http or https"},
		{name: "for zero", yml: "alerting:\n  for: -1\n", wantErr: "alerting.for must be at least 1 step"},
		{name: "resolve ratio", yml: "alerting:\n  resolve_ratio: 2\n", wantErr: "alerting.resolve_ratio must be in (0, 1]"},
		{name: "resolve for", yml: "alerting:\n  resolve_for: 3\n", check: func(t *testing.T, c *Config) {
			if c.Alerting.ResolveFor != 3 {
				t.Errorf("resolve_for %d", c.Alerting.ResolveFor)
			}
		}},
		{name: "resolve for default", yml: "alerting:\n  for: 2\n", check: func(t *testing.T, c *Config) {
			if c.Alerting.ResolveFor != 1 {
				t.Errorf("resolve_for default %d, want 1 (the first step below resolves)", c.Alerting.ResolveFor)
			}
		}},
		{name: "resolve for negative", yml: "alerting:\n  resolve_for: -2\n", wantErr: "x.yml:2:16: alerting.resolve_for must be at least 1 step, got -2"},
		{name: "critical probability", yml: "alerting:\n  critical_probability: 0.995\n", check: func(t *testing.T, c *Config) {
			if c.Alerting.CriticalProbability != 0.995 {
				t.Errorf("critical_probability %g", c.Alerting.CriticalProbability)
			}
		}},
		// Unset, 0: the daemon follows the model's critical probability
		// (0.9 for a model file without one); it was filled with 0.9.
		{name: "critical probability default", yml: "alerting:\n  for: 2\n", check: func(t *testing.T, c *Config) {
			if c.Alerting.CriticalProbability != 0 {
				t.Errorf("critical_probability default %g, want 0 (the model's)", c.Alerting.CriticalProbability)
			}
		}},
		{name: "critical probability 0", yml: "alerting:\n  critical_probability: 0\n", check: func(t *testing.T, c *Config) {
			if c.Alerting.CriticalProbability != 0 {
				t.Errorf("critical_probability %g, want 0 (the model's)", c.Alerting.CriticalProbability)
			}
		}},
		{name: "critical probability over 1", yml: "alerting:\n  critical_probability: 1.5\n", wantErr: "x.yml:2:25: alerting.critical_probability must be in (0, 1], or 0 or unset to follow the model's critical probability, got 1.5"},
		{name: "critical probability negative", yml: "alerting:\n  critical_probability: -0.5\n", wantErr: "x.yml:2:25: alerting.critical_probability must be in (0, 1], or 0 or unset to follow the model's critical probability, got -0.5"},
		{name: "min lead", yml: "alerting:\n  min_lead: 6m30s\n", check: func(t *testing.T, c *Config) {
			if time.Duration(c.Alerting.MinLead) != 390*time.Second {
				t.Errorf("min_lead %s", c.Alerting.MinLead)
			}
		}},
		{name: "negative min lead", yml: "alerting:\n  min_lead: -1m\n", wantErr: "not a valid duration string"},
		{name: "bad PromQL", yml: "features:\n  - name: f\n    expr: rate(x[5m]\n", wantErr: "x.yml:3:"},
		{name: "dependency without target", yml: "dependencies:\n  - source: a\n", wantErr: "dependency needs source and target"},
		{name: "bad alertmanager UI URL", yml: "alerting:\n  alertmanager_ui_url: am.example.com\n", wantErr: `x.yml:2:24: invalid URL "am.example.com": scheme must be http or https`},
		// A value's own decoder (durations) gives no line: placed at the
		// scalar it quotes, with the key path.
		{name: "bad duration", yml: "step: 15s\nlookback: 15 seconds\n", wantErr: `x.yml:2:11: lookback: unknown unit " seconds" in duration "15 seconds"`},
		{name: "bad nested duration", yml: "alerting:\n  min_lead: 5 minutes\n", wantErr: "x.yml:2:13: alerting.min_lead: "},
		// Found through "<<" merge keys and aliases too.
		{name: "bad merged duration", yml: "alerting:\n  <<: {min_lead: 5 minutes}\n", wantErr: "x.yml:2:18: alerting.min_lead: "},
		{name: "bad aliased duration", yml: "alerting:\n  external_url: &d 5 minutes\n  min_lead: *d\n", wantErr: "x.yml:3:13: alerting.min_lead: "},
		// Placed by the field being decoded, even when the literal repeats.
		{name: "bad duration repeated literal", yml: "max_series: 30\nprometheus:\n  - url: http://p\n    timeout: 30\n", wantErr: `x.yml:4:14: prometheus[0].timeout: `},
		{name: "bad duration repeated bad literal", yml: "lookback: 1x\nalerting:\n  resend_delay: 1x\n", wantErr: `x.yml:1:11: lookback: `},
		{name: "bad duration in a list", yml: "event_features:\n  - name: a\n    reasons: [x]\n    window: 5m\n  - name: b\n    reasons: [x]\n    window: 5 m\n", wantErr: `x.yml:7:13: event_features[1].window: `},
		// Validate's messages are placed by the key they name, never at 1:1.
		{name: "history beyond lookback", yml: "features:\n  - name: a\n    expr: up\n  - name: r\n    expr: rate(x[1h])\n",
			wantErr: `x.yml:5:11: features[1].expr: feature "r": expression reads 1h0m0s of history`},
		{name: "bad feature name", yml: "features:\n  - name: a\n    expr: up\n  - name: 1bad\n    expr: up\n",
			wantErr: `x.yml:4:11: features[1].name: feature "1bad": name must match`},
		// A duplicate name is reported where it is repeated.
		{name: "duplicate feature name", yml: "features:\n  - name: a\n    expr: up\n  - name: a\n    expr: up\n",
			wantErr: `x.yml:4:11: features[1].name: feature "a": name already used`},
		{name: "name used thrice", yml: "features:\n  - name: a\n    expr: up\n  - name: b\n    expr: up\n  - name: a\n    expr: up\nevent_features:\n  - name: a\n    reasons: [x]\n",
			wantErr: `x.yml:6:11: features[2].name: feature "a": name already used by a feature` + "\n" + `x.yml:9:11: event_features[0].name: event feature "a": name already used by a feature`},
		{name: "label without expr", yml: "features:\n  - name: a\n    expr: up\nlabels:\n  - name: l\n",
			wantErr: `x.yml:5:5: labels[0]: label "l": needs expr or reasons`},
		{name: "lookback below step", yml: "step: 2m\nlookback: 1m\n", wantErr: "x.yml:1:7: step: must be shorter than lookback 1m0s, got 2m0s"},
		{name: "lookback too short for the default features", yml: "lookback: 3m\n", wantErr: "x.yml:1:11: lookback: 3m0s is too short for 18 expressions"},
		{name: "no features", yml: "features: []\nevent_features: []\nlabels: []\nentity_labels: [pod]\n", wantErr: ""},
		{name: "remote-write limits", yml: "remote_write:\n  max_samples_per_request: 2000\n  max_series_per_request: 500\n  max_in_flight: 8\n  in_flight_wait: 2s\n  max_decoded_bytes: 1048576\n  max_labels: 32\n  max_label_value_length: 512\n  label_cache_size: 1000\n  label_cache_bytes: 1000000\n  append_timeout: 10s\n",
			check: func(t *testing.T, c *Config) {
				want := RemoteWriteConfig{MaxSamplesPerRequest: 2000, MaxSeriesPerRequest: 500, MaxInFlight: 8, InFlightWait: model.Duration(2 * time.Second),
					MaxDecodedBytes: 1 << 20, MaxLabels: 32, MaxLabelValueLength: 512, LabelCacheSize: 1000, LabelCacheBytes: 1_000_000, AppendTimeout: model.Duration(10 * time.Second)}
				if c.RemoteWrite != want {
					t.Errorf("remote_write %+v, want %+v", c.RemoteWrite, want)
				}
			}},
		{name: "remote-write limit 0 takes the default", yml: "remote_write:\n  max_in_flight: 0\n  max_samples_per_request: 10\n", check: func(t *testing.T, c *Config) {
			if c.RemoteWrite.MaxInFlight != 4 || c.RemoteWrite.MaxSamplesPerRequest != 10 || c.RemoteWrite.MaxSeriesPerRequest != 100_000 {
				t.Errorf("remote_write %+v", c.RemoteWrite)
			}
		}},
		{name: "negative max_decoded_bytes", yml: "remote_write:\n  max_decoded_bytes: -1\n", wantErr: "x.yml:2:22: remote_write.max_decoded_bytes must not be negative, got -1"},
		{name: "small max_decoded_bytes", yml: "remote_write:\n  max_decoded_bytes: 1000\n", wantErr: "x.yml:2:22: remote_write.max_decoded_bytes must be at least 1024, got 1000"},
		{name: "negative max_samples_per_request", yml: "remote_write:\n  disabled: false\n  max_samples_per_request: -5\n", wantErr: "x.yml:3:28: remote_write.max_samples_per_request must not be negative, got -5"},
		{name: "negative max_series_per_request", yml: "remote_write:\n  max_series_per_request: -1\n", wantErr: "x.yml:2:27: remote_write.max_series_per_request must not be negative"},
		{name: "negative max_in_flight", yml: "remote_write:\n  max_in_flight: -1\n", wantErr: "x.yml:2:18: remote_write.max_in_flight must not be negative"},
		{name: "negative max_labels", yml: "remote_write:\n  max_labels: -1\n", wantErr: "x.yml:2:15: remote_write.max_labels must not be negative"},
		{name: "negative max_label_value_length", yml: "remote_write:\n  max_label_value_length: -1\n", wantErr: "x.yml:2:27: remote_write.max_label_value_length must not be negative"},
		{name: "negative label_cache_size", yml: "remote_write:\n  label_cache_size: -1\n", wantErr: "x.yml:2:21: remote_write.label_cache_size must not be negative"},
		{name: "negative label_cache_bytes", yml: "remote_write:\n  label_cache_bytes: -1\n", wantErr: "x.yml:2:22: remote_write.label_cache_bytes must not be negative"},
		{name: "negative in_flight_wait", yml: "remote_write:\n  in_flight_wait: -1s\n", wantErr: "x.yml:2:19: remote_write.in_flight_wait: not a valid duration string"},
		{name: "bad append_timeout", yml: "remote_write:\n  append_timeout: 30 s\n", wantErr: "x.yml:2:19: remote_write.append_timeout: "},
		{name: "nats decoder limits", yml: "nats:\n  max_message_bytes: 65536\n  max_labels: 16\n  max_label_value_length: 256\n  max_influx_fields: 100\n",
			check: func(t *testing.T, c *Config) {
				if n := c.NATS; n.MaxMessageBytes != 65536 || n.MaxLabels != 16 || n.MaxLabelValueLength != 256 || n.MaxInfluxFields != 100 || n.Stream != "OMEN" {
					t.Errorf("nats %+v", n)
				}
			}},
		{name: "nats decoder limit 0 takes the default", yml: "nats:\n  max_labels: 0\n  max_influx_fields: 10\n", check: func(t *testing.T, c *Config) {
			if n := c.NATS; n.MaxLabels != 64 || n.MaxInfluxFields != 10 || n.MaxMessageBytes != 1<<20 || n.MaxLabelValueLength != 2048 {
				t.Errorf("nats %+v", n)
			}
		}},
		{name: "negative nats max_message_bytes", yml: "nats:\n  stream: S\n  max_message_bytes: -1\n", wantErr: "x.yml:3:22: nats.max_message_bytes must not be negative, got -1"},
		{name: "negative nats max_labels", yml: "nats:\n  max_labels: -2\n", wantErr: "x.yml:2:15: nats.max_labels must not be negative, got -2"},
		{name: "negative nats max_label_value_length", yml: "nats:\n  max_label_value_length: -1\n", wantErr: "x.yml:2:27: nats.max_label_value_length must not be negative"},
		{name: "negative nats max_influx_fields", yml: "nats:\n  max_influx_fields: -1\n", wantErr: "x.yml:2:22: nats.max_influx_fields must not be negative"},
		{name: "nats decoder options", yml: "nats:\n  influx_precision: 1s\n  required_labels: [namespace, pod]\n  label_cache_size: 1000\n",
			check: func(t *testing.T, c *Config) {
				if n := c.NATS; n.InfluxPrecision != "1s" || !slices.Equal(n.RequiredLabels, []string{"namespace", "pod"}) || n.LabelCacheSize != 1000 {
					t.Errorf("nats %+v", n)
				}
			}},
		{name: "nats message above half a value-log file", yml: "storage:\n  value_log_file_size: 4194304\nnats:\n  max_message_bytes: 3000000\n",
			wantErr: "x.yml:4:22: nats.max_message_bytes (3000000) must be at most half of storage.value_log_file_size (4194304): the store cannot write an event larger than that"},
		{name: "default nats message above half a small value-log file", yml: "storage:\n  value_log_file_size: 1048576\n",
			wantErr: "nats.max_message_bytes (1048576) must be at most half of storage.value_log_file_size (1048576)"},
		{name: "nats message within half a value-log file", yml: "storage:\n  value_log_file_size: 4194304\nnats:\n  max_message_bytes: 2097152\n"},
		{name: "negative nats label_cache_size", yml: "nats:\n  label_cache_size: -1\n", wantErr: "x.yml:2:21: nats.label_cache_size must not be negative, got -1"},
		{name: "influx precision not a unit", yml: "nats:\n  influx_precision: 10ms\n",
			wantErr: `x.yml:2:21: nats.influx_precision must be one of 1ns, 1us (or 1µs), 1ms, 1s, got "10ms"`},
		{name: "influx precision in minutes", yml: "nats:\n  influx_precision: 1m\n", wantErr: `x.yml:2:21: nats.influx_precision must be one of 1ns, 1us (or 1µs), 1ms, 1s, got "1m"`},
		{name: "influx precision equal to a second", yml: "nats:\n  influx_precision: 1000ms\n", wantErr: `nats.influx_precision must be one of 1ns, 1us (or 1µs), 1ms, 1s, got "1000ms"`},
		{name: "influx precision a bare number", yml: "nats:\n  influx_precision: 1\n", wantErr: `x.yml:2:21: nats.influx_precision must be one of 1ns, 1us (or 1µs), 1ms, 1s, got "1"`},
		{name: "influx precision InfluxDB's u", yml: "nats:\n  influx_precision: u\n", wantErr: `nats.influx_precision must be one of 1ns, 1us (or 1µs), 1ms, 1s, got "u"`},
		{name: "influx precision with a capital", yml: "nats:\n  influx_precision: 1S\n", wantErr: `nats.influx_precision must be one of`},
		{name: "required label not a name", yml: "nats:\n  required_labels: [pod, k8s-app]\n",
			wantErr: `x.yml:2:26: nats.required_labels[1]: "k8s-app" is not a valid label name`},
		{name: "required label starting with a digit", yml: "nats:\n  required_labels:\n    - 1pod\n", wantErr: `x.yml:3:7: nats.required_labels[0]: "1pod" is not a valid label name`},
		{name: "required label empty", yml: "nats:\n  required_labels: [\"\"]\n", wantErr: `nats.required_labels[0]: "" is not a valid label name`},
		{name: "required labels not a list", yml: "nats:\n  required_labels: pod\n", wantErr: "x.yml:2: cannot unmarshal !!str `pod` into []string"},
		{name: "nats limit not a number", yml: "nats:\n  max_labels: many\n", wantErr: "x.yml:2: cannot unmarshal !!str `many` into int"},
		{name: "unknown remote_write key", yml: "remote_write:\n  max_samples: 10\n", wantErr: `x.yml:2:3: unknown key "max_samples" in remote_write`},
		// An empty key leaves the built-in value in use: its errors say
		// so, at the user's key.
		{name: "built-in lookback under an empty key", yml: "step: 9m\nlookback:\n",
			wantErr: "x.yml:2:10: lookback (built-in default): 15m0s is too short for 3 expressions"},
		{name: "second document", yml: "step: 15s\n---\nlookback: 1h\n", wantErr: "x.yml:2:1: a second YAML document"},
		{name: "keys after an empty document", yml: "---\n# nothing\n---\nstep: 30s\n", wantErr: "x.yml:3:1: the configuration's keys follow an empty YAML document"},
		{name: "empty trailing documents", yml: "step: 15s\n---\n---\n# nothing here\n"},
		{name: "syntax error in a second document", yml: "step: 15s\n---\nfoo: [\n", wantErr: "x.yml:3: did not find expected node content"},
		// Errors come in file order, whatever order the checks run in.
		{name: "errors in file order", yml: "remote_write:\n  max_decoded_bytes: 10\nnats:\n  max_bytes: -2\n",
			wantErr: "x.yml:2:22: remote_write.max_decoded_bytes must be at least 1024, got 10\nx.yml:4:14: nats.max_bytes must be positive or -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("x.yml", []byte(tt.yml))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// TestInfluxPrecisionUnit: every spelling nats.influx_precision accepts
// loads and names its unit; the others are refused by Load.
func TestInfluxPrecisionUnit(t *testing.T) {
	tests := []struct {
		yml  string
		want time.Duration // 0: refused
	}{
		{"1ns", time.Nanosecond}, {"ns", time.Nanosecond},
		{"1us", time.Microsecond}, {"us", time.Microsecond},
		{"1µs", time.Microsecond}, {"µs", time.Microsecond}, // U+00B5
		{"1μs", time.Microsecond}, {"μs", time.Microsecond}, // U+03BC
		{"1ms", time.Millisecond}, {"ms", time.Millisecond},
		{"1s", time.Second}, {"s", time.Second},
		{"'1s'", time.Second},
		{"2s", 0}, {"1h", 0}, {"0s", 0}, {"-1s", 0}, {"1 s", 0}, {"1e9ns", 0}, {"n", 0}, {"true", 0},
	}
	for _, tt := range tests {
		t.Run(tt.yml, func(t *testing.T) {
			c, err := Load("x.yml", []byte("nats:\n  influx_precision: "+tt.yml+"\n"))
			if tt.want == 0 {
				if err == nil || !strings.Contains(err.Error(), "nats.influx_precision must be one of 1ns, 1us (or 1µs), 1ms, 1s") {
					t.Fatalf("Load = %v, want the influx_precision error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, err := c.NATS.InfluxPrecisionUnit(); got != tt.want || err != nil {
				t.Fatalf("InfluxPrecisionUnit() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestURLErrorsRedacted: an invalid Alertmanager URL's error hides its
// password, whether or not it parses.
func TestURLErrorsRedacted(t *testing.T) {
	for _, u := range []string{"htps://omen:s3cret@am:9093", "http://omen:s3cret@am:%zz", "http://omen:s3cret@",
		"omen:s3cret@am:9093", "http:omen:s3cret@am:9093", "http:/omen:s3cret@am:9093",
		"http://omen:p@s3cret@am:%zz", "http://omen:s3cret/x@am:9093", "http://omen:s3?cret@am:9093"} {
		_, err := Load("x.yml", []byte("alerting:\n  alertmanagers:\n    - url: "+u+"\n"))
		if err == nil {
			t.Errorf("%s: no error", u)
			continue
		}
		if strings.Contains(err.Error(), "s3") || strings.Contains(err.Error(), "cret") || !strings.Contains(err.Error(), "invalid URL") {
			t.Errorf("%s: the error shows the password: %v", u, err)
		}
	}
}

// TestValidationErrorPlaced: every kind of error features.Config.Validate
// reports is placed at the line and key path of the file it is about (by
// the *features.FieldError it carries, not by its wording), message kept.
// Kinds a file cannot produce (a negative step or window does not parse
// as a duration) are placed from a file whose decoded config is changed
// before validating.
func TestValidationErrorPlaced(t *testing.T) {
	const base = "features:\n  - name: a\n    expr: up\n"
	tests := []struct {
		name   string
		yml    string
		mutate func(*Config) // nil: Load the file
		want   string        // a whole line of the error
	}{
		{name: "invalid entity label", yml: "entity_labels: [pod, a-b]\n" + base,
			want: `x.yml:1:22: entity_labels[1]: invalid label name "a-b"`},
		{name: "entity label twice", yml: "entity_labels:\n  - pod\n  - pod\n" + base,
			want: `x.yml:3:5: entity_labels[1]: "pod" given twice`},
		{name: "step not positive", yml: "step: 15s\n" + base, mutate: func(c *Config) { c.Step = -1 },
			want: `x.yml:1:7: step: must be positive, got -1ns`},
		{name: "lookback below 1m", yml: "lookback: 30s\nevent_features:\n  - name: e\n    reasons: [x]\n",
			want: `x.yml:1:11: lookback: must be at least 1m, got 30s`},
		{name: "lookback below step", yml: "step: 2m\nlookback: 1m\n",
			want: `x.yml:1:7: step: must be shorter than lookback 1m0s, got 2m0s`},
		// The error is at step (in the file), naming the defaulted lookback.
		{name: "lookback below step, lookback defaulted", yml: "step: 20m\nevent_features:\n  - name: e\n    reasons: [x]\n",
			want: `x.yml:1:7: step: must be shorter than lookback 15m0s, got 20m0s`},
		{name: "negative max_series", yml: "max_series: -1\n" + base,
			want: `x.yml:1:13: max_series: must be positive, got -1`},
		{name: "no features", yml: "features: []\nlabels:\n  - name: l\n    reasons: [x]\n",
			want: `x.yml:1:11: features: none given: give features or event_features`},
		// Not a built-in default: the file gives labels, so no default
		// features apply. No line to point at.
		{name: "no features key", yml: "labels:\n  - name: l\n    reasons: [x]\n",
			want: `x.yml: features: none given: give features or event_features`},
		{name: "invalid feature name", yml: base + "  - name: 1bad\n    expr: up\n",
			want: `x.yml:4:11: features[1].name: feature "1bad": name must match`},
		{name: "invalid event feature name", yml: base + "event_features:\n  - name: e-1\n    reasons: [x]\n",
			want: `x.yml:5:11: event_features[0].name: event feature "e-1": name must match`},
		{name: "invalid label name", yml: base + "labels:\n  - name: l-1\n    reasons: [x]\n",
			want: `x.yml:5:11: labels[0].name: label "l-1": name must match`},
		{name: "name already used", yml: base + "labels:\n  - name: a\n    reasons: [x]\n",
			want: `x.yml:5:11: labels[0].name: label "a": name already used by a feature`},
		{name: "feature expr does not parse", yml: "features:\n  - name: a\n    expr: rate(x[5m]\n",
			want: `x.yml:3:11: features[0].expr: feature "a": parse "rate(x[5m]"`},
		{name: "feature expr not a vector", yml: "features:\n  - name: a\n    expr: x[5m]\n",
			want: `x.yml:3:11: features[0].expr: feature "a": expression "x[5m]" gives a matrix`},
		{name: "feature expr missing", yml: "features:\n  - name: a\n",
			want: `x.yml:2:5: features[0].expr: feature "a": empty expression`},
		{name: "feature expr drops entity labels", yml: "features:\n  - name: a\n    expr: sum(up)\n",
			want: `x.yml:3:11: features[0].expr: feature "a": its result cannot carry the entity label(s)`},
		{name: "feature expr beyond lookback", yml: base + "  - name: r\n    expr: rate(x[1h])\n",
			want: `x.yml:5:11: features[1].expr: feature "r": expression reads 1h0m0s of history`},
		{name: "event feature without reasons", yml: base + "event_features:\n  - name: e\n",
			want: `x.yml:5:5: event_features[0].reasons: event feature "e": no reasons`},
		{name: "event feature empty reason", yml: base + "event_features:\n  - name: e\n    reasons: [x, \"\"]\n",
			want: `x.yml:6:14: event_features[0].reasons: event feature "e": empty reason`},
		{name: "event feature window not positive", yml: base + "event_features:\n  - name: e\n    reasons: [x]\n    window: 5m\n",
			mutate: func(c *Config) { c.EventFeatures[0].Window = -1 },
			want:   `x.yml:7:13: event_features[0].window: event feature "e": window 0s must be positive`},
		{name: "label without expr or reasons", yml: base + "labels:\n  - name: l\n",
			want: `x.yml:5:5: labels[0]: label "l": needs expr or reasons`},
		{name: "label empty reason", yml: base + "labels:\n  - name: l\n    reasons: [\"\"]\n",
			want: `x.yml:6:14: labels[0].reasons: label "l": empty reason`},
		{name: "label expr does not parse", yml: base + "labels:\n  - name: l\n    expr: (\n",
			want: `x.yml:6:11: labels[0].expr: label "l": parse "("`},
		{name: "built-in lookback too short for the features", yml: "step: 9m\n",
			want: `x.yml: lookback (built-in default): 15m0s is too short for 3 expressions, which read more history than lookback minus step (9m0s); the most is feature "container_restarts_10m", 10m0s: lookback must be at least 19m0s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.mutate == nil {
				_, err = Load("x.yml", []byte(tt.yml))
			} else {
				c, lerr := Load("x.yml", []byte(tt.yml))
				if lerr != nil {
					t.Fatalf("the file before the change: %v", lerr)
				}
				tt.mutate(c)
				err = validationErrors(t, "x.yml", tt.yml, c)
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(line, tt.want) {
					return
				}
			}
			t.Fatalf("error\n%v\nhas no line starting %q", err, tt.want)
		})
	}
}

// validationErrors places c.Validate()'s errors in the file yml as Load
// does (no defaulted keys).
func validationErrors(t *testing.T, name, yml string, c *Config) error {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(yml), &root); err != nil {
		t.Fatal(err)
	}
	var errs []error
	for _, e := range Unjoin(c.Validate()) {
		errs = append(errs, validationError(name, &root, nil, e))
	}
	return errors.Join(errs...)
}

// TestValidationErrorsAllPlaced: a file with one of every kind of feature
// error the file can hold gets every one of them back at a line, prefixed
// with its key path, none as a bare message.
func TestValidationErrorsAllPlaced(t *testing.T) {
	yml := `entity_labels: [pod, a-b, pod]
step: 2m
lookback: 1m
max_series: -1
features:
  - name: 1bad
    expr: rate(x[5m]
  - name: dup
    expr: sum(up)
  - name: m
    expr: x[5m]
  - name: empty
event_features:
  - name: dup
  - name: e
    reasons: [""]
labels:
  - name: l
  - name: l2
    reasons: [""]
    expr: (
`
	_, err := Load("x.yml", []byte(yml))
	if err == nil {
		t.Fatal("no error")
	}
	parts := Unjoin(err)
	// 15: step not shorter than lookback is one error, at step, and no
	// expression is checked against that lookback (features 253830a).
	if len(parts) != 15 {
		t.Errorf("%d errors, want 15 (one or more per kind):\n%v", len(parts), err)
	}
	for _, e := range parts {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("%q is not a *config.Error", e)
		}
		key, _, _ := strings.Cut(ce.Msg, ": ")
		if ce.Line == 0 || !regexp.MustCompile(`^[a-z_]+(\[\d+\])?(\.[a-z_]+)?$`).MatchString(key) {
			t.Errorf("error without a location: %q", e)
		}
	}
}

// TestConfigReference: the README's configuration reference is a valid
// file, and it shows every key of the configuration.
func TestConfigReference(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## Configuration reference")
	if !ok {
		t.Fatal("README has no configuration reference")
	}
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the configuration reference has no yaml block")
	}
	if _, err := Load("README.md", []byte(block)); err != nil {
		t.Fatalf("the configuration reference does not load: %v", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(block), &root); err != nil {
		t.Fatal(err)
	}
	// The keys shown, list items merged: "labels.expr".
	shown := map[string]bool{}
	var show func(n *yaml.Node, path string)
	show = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := strings.TrimPrefix(path+"."+n.Content[i].Value, ".")
				shown[p] = true
				show(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				show(c, path)
			}
		}
	}
	show(root.Content[0], "")
	var missing []string
	var want func(typ reflect.Type, path string)
	want = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || reflect.PointerTo(typ).Implements(unmarshalerType) {
			return
		}
		fields := map[string]reflect.Type{}
		yamlFields(typ, fields)
		for k, ft := range fields {
			p := strings.TrimPrefix(path+"."+k, ".")
			if !shown[p] {
				missing = append(missing, p)
			}
			want(ft, p)
		}
	}
	want(reflect.TypeFor[Config](), "")
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("keys missing from the README's configuration reference: %v", missing)
	}
}
