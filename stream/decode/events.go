package decode

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// eventShape is what decides an item's kind and envelopes.
type eventShape struct {
	Items           json.RawMessage `json:"items"`
	Events          json.RawMessage `json:"events"`
	InvolvedObject  json.RawMessage `json:"involvedObject"`
	InvolvedObjectS json.RawMessage `json:"involved_object"`
	Metadata        json.RawMessage `json:"metadata"`
	Event           json.RawMessage `json:"event"`
	Object          json.RawMessage `json:"object"`
	Regarding       json.RawMessage `json:"regarding"`
	APIVersion      json.RawMessage `json:"apiVersion"`
}

// eventsAPIVersion reports whether raw is a JSON string naming an
// events.k8s.io API version (v1, v1beta1).
func eventsAPIVersion(raw json.RawMessage) bool {
	return strings.HasPrefix(string(raw), `"events.k8s.io/`)
}

type k8sObjectRef struct {
	Kind       string            `json:"kind"`
	Namespace  string            `json:"namespace"`
	Name       string            `json:"name"`
	UID        string            `json:"uid"`
	FieldPath  string            `json:"fieldPath"`
	FieldPathS string            `json:"field_path"`
	Labels     map[string]string `json:"labels"`
}

type k8sSeries struct {
	Count             json.RawMessage `json:"count"`
	LastObservedTime  json.RawMessage `json:"lastObservedTime"`
	LastObservedTimeS json.RawMessage `json:"last_observed_time"`
}

// k8sEvent is a core/v1 Event as kubernetes-event-exporter writes it, with
// the snake_case spellings Vector pipelines produce, or an events.k8s.io/v1
// Event (regarding, note, deprecatedCount, deprecatedFirstTimestamp,
// deprecatedLastTimestamp, deprecatedSource; eventTime and series as in
// core/v1).
type k8sEvent struct {
	Metadata struct {
		Name               string          `json:"name"`
		Namespace          string          `json:"namespace"`
		UID                string          `json:"uid"`
		CreationTimestamp  json.RawMessage `json:"creationTimestamp"`
		CreationTimestampS json.RawMessage `json:"creation_timestamp"`
	} `json:"metadata"`
	Reason          string          `json:"reason"`
	Message         string          `json:"message"`
	Type            string          `json:"type"`
	Count           json.RawMessage `json:"count"`
	FirstTimestamp  json.RawMessage `json:"firstTimestamp"`
	FirstTimestampS json.RawMessage `json:"first_timestamp"`
	LastTimestamp   json.RawMessage `json:"lastTimestamp"`
	LastTimestampS  json.RawMessage `json:"last_timestamp"`
	EventTime       json.RawMessage `json:"eventTime"`
	EventTimeS      json.RawMessage `json:"event_time"`
	Series          *k8sSeries      `json:"series"`
	Source          struct {
		Component string `json:"component"`
		Host      string `json:"host"`
	} `json:"source"`
	InvolvedObject  *k8sObjectRef   `json:"involvedObject"`
	InvolvedObjectS *k8sObjectRef   `json:"involved_object"`
	Event           json.RawMessage `json:"event"`
	Object          json.RawMessage `json:"object"`

	// events.k8s.io/v1 fields.
	Regarding                 *k8sObjectRef   `json:"regarding"`
	Note                      string          `json:"note"`
	DeprecatedCount           json.RawMessage `json:"deprecatedCount"`
	DeprecatedCountS          json.RawMessage `json:"deprecated_count"`
	DeprecatedFirstTimestamp  json.RawMessage `json:"deprecatedFirstTimestamp"`
	DeprecatedFirstTimestampS json.RawMessage `json:"deprecated_first_timestamp"`
	DeprecatedLastTimestamp   json.RawMessage `json:"deprecatedLastTimestamp"`
	DeprecatedLastTimestampS  json.RawMessage `json:"deprecated_last_timestamp"`
	DeprecatedSource          struct {
		Host string `json:"host"`
	} `json:"deprecatedSource"`
	DeprecatedSourceS struct {
		Host string `json:"host"`
	} `json:"deprecated_source"`
}

// moduleEvent is omen's module-event JSON.
type moduleEvent struct {
	Time      json.RawMessage `json:"time"`
	Timestamp json.RawMessage `json:"timestamp"`
	Namespace string          `json:"namespace"`
	Pod       string          `json:"pod"`
	Container string          `json:"container"`
	Module    string          `json:"module"`
	Service   string          `json:"service"`
	Node      string          `json:"node"`
	Reason    string          `json:"reason"`
	Level     string          `json:"level"`
	Message   string          `json:"message"`
	Count     json.RawMessage `json:"count"`
}

func (d *Decoder) decodeEvents(f Format, p []byte, res *Result) {
	d.json.item = 0
	d.forEachJSON(p, func(item []byte, _ bool) { d.eventItem(f, item, res, true) })
}

// eventItem decodes one item, expanding envelopes when top is set.
func (d *Decoder) eventItem(f Format, item []byte, res *Result, top bool) {
	var sh eventShape
	if err := json.Unmarshal(item, &sh); err != nil {
		d.json.item++
		d.itemErr(res, jsonReason(err), "%v", err)
		return
	}
	if top {
		null := false // {"items":null}: a list of no event
		for _, env := range []json.RawMessage{sh.Items, sh.Events} {
			if absent(env) || env[0] != '[' {
				null = null || string(env) == "null"
				continue
			}
			var items []json.RawMessage
			if err := json.Unmarshal(env, &items); err != nil {
				d.json.item++
				d.itemErr(res, jsonReason(err), "%v", err)
				return
			}
			for _, it := range items {
				d.eventItem(f, it, res, false)
			}
			return
		}
		if null {
			return
		}
	}
	d.json.item++
	kind := f
	if kind == FormatEvents {
		kind = FormatModuleEvents
		for _, r := range []json.RawMessage{sh.InvolvedObject, sh.InvolvedObjectS, sh.Metadata, sh.Event, sh.Object, sh.Regarding} {
			if !absent(r) {
				kind = FormatKubernetesEvents
				break
			}
		}
		if eventsAPIVersion(sh.APIVersion) {
			kind = FormatKubernetesEvents
		}
	}
	if kind == FormatKubernetesEvents {
		d.k8sEvent(item, res)
	} else {
		d.moduleEvent(item, res)
	}
}

// unwrapK8s decodes a Kubernetes event, unwrapping "event" and "object"
// envelopes and a JSON event carried as the "message" string. The object
// returned is the core/v1 involvedObject or the events.k8s.io/v1 regarding.
func unwrapK8s(item []byte) (*k8sEvent, *k8sObjectRef, error) {
	var ev *k8sEvent
	for depth := 0; depth < 3; depth++ {
		ev = new(k8sEvent)
		if err := json.Unmarshal(item, ev); err != nil {
			return nil, nil, err
		}
		if obj := ev.InvolvedObject; obj != nil {
			return ev, obj, nil
		}
		if obj := ev.InvolvedObjectS; obj != nil {
			return ev, obj, nil
		}
		if obj := ev.Regarding; obj != nil {
			return ev, obj, nil
		}
		switch {
		case !absent(ev.Event) && ev.Event[0] == '{':
			item = ev.Event
		case !absent(ev.Object) && ev.Object[0] == '{':
			item = ev.Object
		case strings.HasPrefix(ev.Message, "{") && json.Valid([]byte(ev.Message)):
			item = []byte(ev.Message)
		default:
			return ev, nil, nil
		}
	}
	return ev, nil, nil
}

func (d *Decoder) k8sEvent(item []byte, res *Result) {
	ev, obj, err := unwrapK8s(item)
	if err != nil {
		d.itemErr(res, jsonReason(err), "%v", err)
		return
	}
	if obj == nil {
		d.itemErr(res, ReasonMalformed, "kubernetes event has no involvedObject or regarding")
		return
	}
	if ev.Reason == "" {
		d.itemErr(res, ReasonMalformed, "kubernetes event has no reason")
		return
	}

	t, have := int64(0), false
	times := []json.RawMessage{
		ev.Metadata.CreationTimestamp, ev.Metadata.CreationTimestampS,
		ev.FirstTimestamp, ev.FirstTimestampS, ev.LastTimestamp, ev.LastTimestampS,
		ev.EventTime, ev.EventTimeS,
		ev.DeprecatedFirstTimestamp, ev.DeprecatedFirstTimestampS,
		ev.DeprecatedLastTimestamp, ev.DeprecatedLastTimestampS,
	}
	count := int64(1)
	counts := []json.RawMessage{ev.Count, ev.DeprecatedCount, ev.DeprecatedCountS}
	if ev.Series != nil {
		times = append(times, ev.Series.LastObservedTime, ev.Series.LastObservedTimeS)
		counts = append(counts, ev.Series.Count)
	}
	for _, raw := range times {
		if absent(raw) {
			continue
		}
		ts, reason := d.jsonTime(raw)
		if reason != "" {
			d.itemErr(res, reason, "time %s", quote(raw))
			return
		}
		if !have || ts > t {
			t, have = ts, true
		}
	}
	if !have {
		t = d.recv
	}
	for _, raw := range counts {
		if absent(raw) {
			continue
		}
		c, reason := jsonCount(raw)
		if reason != "" {
			d.itemErr(res, reason, "count %s", quote(raw))
			return
		}
		count = max(count, c)
	}
	if reason := d.checkTime(t); reason != "" {
		d.itemErr(res, reason, "time %s", time.UnixMilli(t).UTC().Format(time.RFC3339))
		return
	}

	ns := obj.Namespace
	if ns == "" {
		ns = ev.Metadata.Namespace
	}
	fieldPath := obj.FieldPath
	if fieldPath == "" {
		fieldPath = obj.FieldPathS
	}
	d.pairs = append(d.pairs[:0],
		labels.Label{Name: "namespace", Value: ns},
		labels.Label{Name: "kind", Value: obj.Kind},
		labels.Label{Name: "name", Value: obj.Name},
		labels.Label{Name: "node", Value: cmp.Or(ev.Source.Host, ev.DeprecatedSource.Host, ev.DeprecatedSourceS.Host)},
		labels.Label{Name: "container", Value: containerFromFieldPath(fieldPath)},
	)
	fixed := []string{"namespace", "kind", "name", "node", "container", "pod"}
	if obj.Kind == "Pod" {
		d.pairs = append(d.pairs, labels.Label{Name: "pod", Value: obj.Name})
	}
	keys := make([]string, 0, len(obj.Labels))
	for k := range obj.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		n := sanitizeName(k, false)
		if n == "" || strings.HasPrefix(n, "__") || slices.Contains(fixed, n) || slices.ContainsFunc(d.pairs, func(l labels.Label) bool { return l.Name == n }) {
			continue
		}
		d.pairs = append(d.pairs, labels.Label{Name: n, Value: obj.Labels[k]})
	}
	lset, reason, msg := d.finishLabels(false, true)
	if reason != "" {
		d.itemErr(res, reason, "%s", msg)
		return
	}
	res.Events = append(res.Events, telemetry.Event{
		T:       t,
		Source:  telemetry.SourceKubernetes,
		Reason:  ev.Reason,
		Type:    ev.Type,
		Count:   int(count),
		Labels:  lset,
		Message: cmp.Or(ev.Message, ev.Note),
		UID:     ev.Metadata.UID,
	})
}

// containerFromFieldPath extracts the container name from a field path
// such as spec.containers{app}, spec.initContainers{init} or
// spec.ephemeralContainers{debug}.
func containerFromFieldPath(fp string) string {
	for _, prefix := range []string{"spec.containers{", "spec.initContainers{", "spec.ephemeralContainers{"} {
		if rest, ok := strings.CutPrefix(fp, prefix); ok {
			if name, _, ok := strings.Cut(rest, "}"); ok {
				return name
			}
		}
	}
	return ""
}

// jsonCount parses an event count: a non-negative integer; 0 means 1.
func jsonCount(raw json.RawMessage) (int64, string) {
	if raw[0] < '0' && raw[0] != '-' || raw[0] > '9' {
		return 0, ReasonWrongType
	}
	c, ok := parseInt64(raw)
	if !ok || c < 0 || c > 1<<31-1 {
		return 0, ReasonInvalidValue
	}
	return max(c, 1), ""
}

func (d *Decoder) moduleEvent(item []byte, res *Result) {
	var ev moduleEvent
	if err := json.Unmarshal(item, &ev); err != nil {
		d.itemErr(res, jsonReason(err), "%v", err)
		return
	}
	if ev.Reason == "" {
		d.itemErr(res, ReasonMalformed, "module event has no reason")
		return
	}
	t := d.recv
	for _, raw := range []json.RawMessage{ev.Timestamp, ev.Time} {
		if absent(raw) {
			continue
		}
		ts, reason := d.jsonTime(raw)
		if reason != "" {
			d.itemErr(res, reason, "time %s", quote(raw))
			return
		}
		t = ts
	}
	if reason := d.checkTime(t); reason != "" {
		d.itemErr(res, reason, "time %s", time.UnixMilli(t).UTC().Format(time.RFC3339))
		return
	}
	count := int64(1)
	if !absent(ev.Count) {
		c, reason := jsonCount(ev.Count)
		if reason != "" {
			d.itemErr(res, reason, "count %s", quote(ev.Count))
			return
		}
		count = c
	}
	d.pairs = append(d.pairs[:0],
		labels.Label{Name: "namespace", Value: ev.Namespace},
		labels.Label{Name: "pod", Value: ev.Pod},
		labels.Label{Name: "container", Value: ev.Container},
		labels.Label{Name: "module", Value: ev.Module},
		labels.Label{Name: "service", Value: ev.Service},
		labels.Label{Name: "node", Value: ev.Node},
	)
	lset, reason, msg := d.finishLabels(false, true)
	if reason != "" {
		d.itemErr(res, reason, "%s", msg)
		return
	}
	level := ev.Level
	if level == "" {
		level = "error"
	}
	res.Events = append(res.Events, telemetry.Event{
		T:       t,
		Source:  telemetry.SourceModule,
		Reason:  ev.Reason,
		Type:    level,
		Count:   int(count),
		Labels:  lset,
		Message: ev.Message,
	})
}
