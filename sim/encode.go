package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// Format is the encoding of metric payloads.
type Format string

// Metric payload formats: the token after "omen.metrics." in the subject.
const (
	FormatInflux Format = "influx" // Influx line protocol, measurement "prometheus", ns timestamps
	FormatProm   Format = "prom"   // Prometheus text exposition 0.0.4 with timestamps
)

// Subjects and subject tokens.
const (
	DefaultMetricsSubject = "omen.metrics"
	DefaultEventsSubject  = "omen.events"
	TokenK8sEvents        = "k8s"
	TokenModuleEvents     = "module"
)

// PromContentType is the Content-Type of the text exposition.
const PromContentType = "text/plain; version=0.0.4; charset=utf-8"

// DefaultMaxPayload is the largest payload Payloads produces, in bytes
// (the decoder's default limit is 1 MiB).
const DefaultMaxPayload = 512 << 10

// Payload is one message to publish.
type Payload struct {
	// Subject is e.g. "omen.metrics.influx" or "omen.events.k8s".
	Subject string
	// MsgID is unique per seed, simulated tick time, payload kind and
	// part ("sim-<seed>-<unix ms>-<influx|prom|k8s|module>-<part>"), for
	// JetStream's Nats-Msg-Id de-duplication: re-publishing a tick is
	// idempotent.
	MsgID string
	Data  []byte
}

// Payloads encodes the tick for NATS: the samples in format f (split into
// messages of at most DefaultMaxPayload bytes at line boundaries), the
// Kubernetes events as JSON arrays (kubernetes-event-exporter's v1 Event
// form) on DefaultEventsSubject.k8s and the module events as JSON arrays
// on DefaultEventsSubject.module, each split likewise into messages of at
// most DefaultMaxPayload bytes at event boundaries. Subjects are under the given prefixes
// (the defaults when empty).
func (t Tick) Payloads(f Format, metricsSubject, eventsSubject string) ([]Payload, error) {
	if metricsSubject == "" {
		metricsSubject = DefaultMetricsSubject
	}
	if eventsSubject == "" {
		eventsSubject = DefaultEventsSubject
	}
	var data []byte
	switch f {
	case FormatInflux:
		data = AppendInflux(make([]byte, 0, 256*len(t.Samples)), t.Samples)
	case FormatProm:
		data = AppendPromText(make([]byte, 0, 256*len(t.Samples)), t.Samples, true)
	default:
		return nil, fmt.Errorf("encode tick %d: unknown metrics format %q", t.Seq, f)
	}
	ms := t.Time.UnixMilli()
	id := func(kind string, part int) string { return fmt.Sprintf("sim-%d-%d-%s-%d", t.seed, ms, kind, part) }
	var out []Payload
	for i, chunk := range splitLines(data, DefaultMaxPayload) {
		out = append(out, Payload{Subject: metricsSubject + "." + string(f), MsgID: id(string(f), i), Data: chunk})
	}
	var k8s, mod []any
	for i := range t.raw {
		e := &t.raw[i]
		if e.k8s {
			k8s = append(k8s, e.k8sJSON())
		} else {
			mod = append(mod, e.moduleJSON())
		}
	}
	for _, g := range []struct {
		token string
		items []any
	}{{TokenK8sEvents, k8s}, {TokenModuleEvents, mod}} {
		if len(g.items) == 0 {
			continue
		}
		parts, err := splitJSONArray(g.items, DefaultMaxPayload)
		if err != nil {
			return nil, fmt.Errorf("encode tick %d %s events: %w", t.Seq, g.token, err)
		}
		for i, b := range parts {
			out = append(out, Payload{Subject: eventsSubject + "." + g.token, MsgID: id(g.token, i), Data: b})
		}
	}
	return out, nil
}

// splitJSONArray encodes items as JSON arrays of at most max bytes each,
// in order (an item longer than max is an array of its own).
func splitJSONArray(items []any, max int) ([][]byte, error) {
	var out [][]byte
	cur := []byte{'['}
	for _, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return nil, err
		}
		if len(cur) > 1 && len(cur)+1+len(b)+1 > max {
			out = append(out, append(cur, ']'))
			cur = []byte{'['}
		}
		if len(cur) > 1 {
			cur = append(cur, ',')
		}
		cur = append(cur, b...)
	}
	if len(cur) > 1 {
		out = append(out, append(cur, ']'))
	}
	return out, nil
}

// splitLines cuts data into pieces of at most max bytes at line ends (a
// longer line is a piece of its own).
func splitLines(data []byte, max int) [][]byte {
	var out [][]byte
	for len(data) > max {
		cut := bytes.LastIndexByte(data[:max], '\n')
		if cut < 0 {
			cut = bytes.IndexByte(data, '\n')
			if cut < 0 {
				break
			}
		}
		out = append(out, data[:cut+1])
		data = data[cut+1:]
	}
	if len(data) > 0 {
		out = append(out, data)
	}
	return out
}

func appendFloat(b []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// AppendInflux appends samples as Influx line protocol in Telegraf's
// Prometheus form (measurement "prometheus", the metric name as the field
// key, the other labels as tags, nanosecond timestamps), one line per
// sample. NaN and infinite values, which the line protocol cannot carry,
// are skipped.
func AppendInflux(b []byte, samples []telemetry.Sample) []byte {
	for i := range samples {
		s := &samples[i]
		if math.IsNaN(s.V) || math.IsInf(s.V, 0) {
			continue
		}
		b = append(b, "prometheus"...)
		name := ""
		s.Labels.Range(func(l labels.Label) {
			if l.Name == pmodel.MetricNameLabel {
				name = l.Value
				return
			}
			if l.Value == "" {
				return
			}
			b = append(b, ',')
			b = append(b, l.Name...) // label names need no escaping
			b = append(b, '=')
			b = appendInfluxEscaped(b, l.Value)
		})
		b = append(b, ' ')
		b = appendInfluxEscaped(b, name)
		b = append(b, '=')
		b = appendFloat(b, s.V)
		b = append(b, ' ')
		b = strconv.AppendInt(b, s.T*int64(time.Millisecond), 10)
		b = append(b, '\n')
	}
	return b
}

func appendInfluxEscaped(b []byte, s string) []byte {
	clean := true
	for i := 0; i < len(s) && clean; i++ {
		c := s[i]
		clean = c != ',' && c != '=' && c != ' ' && c != '\\'
	}
	if clean {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ',', '=', ' ', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return b
}

// AppendPromText appends samples in the Prometheus text exposition format
// 0.0.4 with explicit millisecond timestamps, writing HELP and TYPE lines for
// the simulator's metric families (samples of one family must be
// adjacent, as Tick.Samples are). With types false only the sample lines are
// written.
func AppendPromText(b []byte, samples []telemetry.Sample, types bool) []byte {
	prevName, prevFam, haveFam := "", family(0), false
	for i := range samples {
		s := &samples[i]
		name := s.Labels.Get(pmodel.MetricNameLabel)
		if types && name != prevName {
			prevName = name
			if fam, ok := familyByName(name); ok && (!haveFam || fam != prevFam) {
				prevFam, haveFam = fam, true
				fi := families[fam]
				b = append(b, "# HELP "...)
				b = append(b, fi.name...)
				b = append(b, ' ')
				b = append(b, fi.help...)
				b = append(b, "\n# TYPE "...)
				b = append(b, fi.name...)
				b = append(b, ' ')
				b = append(b, fi.typ...)
				b = append(b, '\n')
			}
		}
		b = append(b, name...)
		first := true
		s.Labels.Range(func(l labels.Label) {
			if l.Name == pmodel.MetricNameLabel {
				return
			}
			if first {
				b = append(b, '{')
				first = false
			} else {
				b = append(b, ',')
			}
			b = append(b, l.Name...)
			b = append(b, '=', '"')
			b = appendPromEscaped(b, l.Value)
			b = append(b, '"')
		})
		if !first {
			b = append(b, '}')
		}
		b = append(b, ' ')
		switch {
		case math.IsNaN(s.V):
			b = append(b, "NaN"...)
		case math.IsInf(s.V, 1):
			b = append(b, "+Inf"...)
		case math.IsInf(s.V, -1):
			b = append(b, "-Inf"...)
		default:
			b = appendFloat(b, s.V)
		}
		b = append(b, ' ')
		b = strconv.AppendInt(b, s.T, 10)
		b = append(b, '\n')
	}
	return b
}

func appendPromEscaped(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "\\\"\n") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

func rfc3339(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

type k8sObject struct {
	Kind      string            `json:"kind"`
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	FieldPath string            `json:"fieldPath,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

type k8sEventJSON struct {
	Metadata struct {
		Name              string `json:"name"`
		Namespace         string `json:"namespace"`
		UID               string `json:"uid"`
		CreationTimestamp string `json:"creationTimestamp"`
	} `json:"metadata"`
	Reason         string `json:"reason"`
	Message        string `json:"message"`
	Type           string `json:"type"`
	Count          int    `json:"count"`
	FirstTimestamp string `json:"firstTimestamp"`
	LastTimestamp  string `json:"lastTimestamp"`
	Source         struct {
		Component string `json:"component"`
		Host      string `json:"host,omitempty"`
	} `json:"source"`
	InvolvedObject k8sObject `json:"involvedObject"`
}

func (e *simEvent) k8sJSON() k8sEventJSON {
	var j k8sEventJSON
	j.Metadata.Name = e.name + "." + e.uid[:8]
	j.Metadata.Namespace = e.ns
	j.Metadata.UID = e.uid
	j.Metadata.CreationTimestamp = rfc3339(e.first)
	j.Reason, j.Message, j.Type, j.Count = e.reason, e.msg, e.typ, e.count
	j.FirstTimestamp, j.LastTimestamp = rfc3339(e.first), rfc3339(e.t)
	j.Source.Component, j.Source.Host = e.component, e.node
	j.InvolvedObject = k8sObject{Kind: e.kind, Namespace: e.ns, Name: e.name, FieldPath: e.fieldPath}
	if e.app != "" {
		j.InvolvedObject.Labels = map[string]string{"app": e.app}
	}
	return j
}

type moduleEventJSON struct {
	Time      string `json:"time"`
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	Module    string `json:"module,omitempty"`
	Service   string `json:"service,omitempty"`
	Node      string `json:"node,omitempty"`
	Reason    string `json:"reason"`
	Level     string `json:"level"`
	Message   string `json:"message"`
	Count     int    `json:"count"`
}

func (e *simEvent) moduleJSON() moduleEventJSON {
	return moduleEventJSON{Time: rfc3339(e.t), Namespace: e.ns, Pod: e.pod, Container: e.container, Module: e.module,
		Service: e.app, Node: e.node, Reason: e.reason, Level: e.typ, Message: e.msg, Count: e.count}
}

// Handler serves the latest tick as a Prometheus /metrics page with
// explicit sample timestamps of the simulated clock (scrape it with
// honor_timestamps: true). Before the first Advance the page is empty.
func (f *Fleet) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		last := f.last
		f.mu.Unlock()
		var body []byte
		if last != nil {
			body = AppendPromText(make([]byte, 0, 64*len(last.Samples)), last.Samples, true)
		}
		w.Header().Set("Content-Type", PromContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}
