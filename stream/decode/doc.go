// Package decode turns ingest payloads (NATS message bodies, HTTP bodies)
// into telemetry values: Prometheus-style samples and discrete events.
//
// A Decoder validates everything it reads. It returns the good samples and
// events of a payload together with one Error per rejected line, item or
// sample, each carrying a stable machine Reason (ReasonMalformed,
// ReasonTooOld, …) that callers use as the label of
// omen_ingest_errors_total{reason}; a skipped influx string field
// (ReasonStringField) is not an error and is counted in
// omen_ingest_ignored_samples_total{kind="string_field"}. Decoders never panic on any input. When
// a payload yields no sample and no event and some of it was rejected,
// Decode also returns a non-nil error (wrapping an Error) so the caller
// can dead-letter the message, unless every line it rejected held only
// string fields (ReasonStringField: skipped by design).
//
// # Empty batches
//
// A well-formed payload of no sample or event is an empty batch, not an
// error: Decode returns nil and records no Error, and the NATS consumer
// acknowledges the message. That is, in every format, an empty payload
// or one of whitespace only (a producer flushing an empty buffer); in
// influx line protocol, comment ("#") and blank lines only; in Prometheus
// text, comments, HELP and TYPE lines only (what a registry of metric
// vectors without children exposes); in the JSON formats, every value
// of the payload (one, or several newline-delimited) an empty array,
// null (what Go's json.Marshal writes for a nil slice), or an envelope
// whose list is empty or null: {"samples":[]} for omen JSON samples,
// {"items":[]} (an EventList or List with no item, as kubectl get events
// -o json writes it) or {"events":[]} for events. What only looks empty
// stays malformed: an object that is neither a batch nor a sample ({}),
// a null or an array inside a batch ([null], [[]]), "samples" of another
// type than an array, a Prometheus text line starting with a NUL byte
// (the lines after it are decoded).
//
// # Formats
//
// The timestamps of the examples below (November 2023) only show the
// syntax: a sample or event older than the ingest window
// (ingest.max_sample_age, default 2h) is rejected as ReasonTooOld, and the
// NATS consumer drops a message of nothing else as expired (terminated,
// counted in omen_nats_messages_total{outcome="expired"}, not
// dead-lettered), so it stores nothing. Send current times, or leave
// the timestamp out: every format then takes the receive time. With the
// nats CLI, for instance:
//
//	nats pub omen.metrics.influx "m,namespace=a,pod=b value=1.5 $(date +%s%N)"
//	nats pub omen.metrics.influx "m,namespace=a,pod=b value=1.5"
//	nats pub omen.metrics.json "{\"labels\":{\"__name__\":\"m\",\"namespace\":\"a\",\"pod\":\"b\"},\"t\":$(date +%s%3N),\"v\":1.5}"
//	nats pub omen.events "{\"time\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"namespace\":\"shop\",\"pod\":\"cart-7d9f\",\"reason\":\"ModuleLoadError\"}"
//
// (date +%s%N is nanoseconds, influx's default precision; +%s%3N
// milliseconds, the unit of JSON's "t".)
//
// Influx line protocol (FormatInflux), as sent by Telegraf's outputs.nats:
//
//	measurement,tag=v,tag2=v2 field=1.5,f2=3i,f3=true,f4=7u 1700000000000000000
//
// Every numeric or boolean field becomes one sample, named exactly like
// Telegraf's prometheus serializer and prometheus_client output do: the
// measurement "prometheus" (Telegraf's metric_version=2 input) yields the
// field key alone, a field named "value" yields the measurement alone, any
// other field yields measurement_field. Invalid names are sanitized like
// Telegraf does: an invalid first rune is dropped, other invalid runes become
// "_", leading and trailing "_" are trimmed (a name that is already valid is
// kept unchanged). Tags become labels with sanitized names; tags with empty
// values are dropped. Integers (3i), unsigned integers (3u), floats and
// booleans (t, T, true, True, TRUE, f, F, false, False, FALSE → 1 and 0)
// are accepted; string fields ("…") are skipped and reported with
// ReasonStringField. NaN and ±Inf, which the line protocol has no syntax
// for (InfluxDB refuses them, Telegraf never writes them), are
// ReasonInvalidValue. Backslash escapes follow the line protocol as Telegraf
// writes it: "\,", "\ " and "\\" in measurements; "\,", "\=", "\ " and "\\"
// in tag keys, tag values and field keys; a backslash before any other byte
// is kept literally. Duplicate tag names (after sanitizing) and a tag named
// __name__ reject the line as malformed. Lines starting with "#" and blank lines are ignored; a
// trailing "\r" is tolerated. The timestamp is in units of
// Options.Precision (default nanoseconds); a line without one takes the
// batch's receive time. A syntax error rejects the whole line. When a line
// repeats a field key, the last value wins (as in InfluxDB). A line of more
// than Options.MaxInfluxFields (default 1024) fields is rejected as malformed.
//
// Prometheus text exposition format 0.0.4 (FormatPromText), parsed with
// Prometheus' own textparse. Samples without a timestamp take the receive
// time. NaN and ±Inf are values, as in Prometheus (a summary quantile
// without observations is NaN). Quoted UTF-8 metric and label names are sanitized like influx names.
//
// OpenMetrics text (FormatOpenMetrics, Content-Type
// application/openmetrics-text), parsed with Prometheus' OpenMetrics
// parser: timestamps are seconds since the epoch, fractional allowed
// (1700000000.25), where Prometheus text's are integer milliseconds
// (which the Prometheus text parser would read 1700000000 as: a time in
// 1970, too old). Exemplars are skipped, _created lines are samples (as
// the Prometheus text parser took them). The closing "# EOF" may be
// missing, and lines after one are read too (the Prometheus text parser
// did the same). A syntax error rejects its line only, as for Prometheus
// text.
//
// omen JSON samples (FormatJSON):
//
//	{"samples":[
//	  {"labels":{"__name__":"m","namespace":"a","pod":"b"},"t":1700000000000,"v":1.5},
//	  {"labels":{"__name__":"m","namespace":"a","pod":"c"},"timestamp":"2023-11-14T22:13:20Z","v":"2.5"}
//	]}
//
// "t" is milliseconds since the Unix epoch (a number, or an RFC 3339
// string); "timestamp" is an RFC 3339 string (or milliseconds). Without
// either, the sample takes the receive time. "v" is a JSON number or a
// string holding a number ("NaN", "+Inf" and "-Inf" included, as
// Prometheus' HTTP API writes them; a number beyond the float64 range is
// ReasonInvalidValue); the string "stale" is the Prometheus stale marker
// (value.StaleNaN). "labels" must contain "__name__". A bare array of
// samples, a single sample object and newline-delimited JSON (one envelope
// or sample per line) are accepted too. Keys match case-insensitively, as
// with encoding/json; unknown keys are ignored.
//
// Kubernetes events (FormatKubernetesEvents): a core/v1 Event object as emitted
// by kubernetes-event-exporter (metadata, reason, message, type, count,
// firstTimestamp, lastTimestamp, eventTime, series, source, involvedObject
// with its labels), optionally nested under "event" or "object" (Vector,
// watch events), with camelCase or snake_case keys (involved_object,
// last_timestamp, field_path, …). The event time is the latest of
// series.lastObservedTime, lastTimestamp, eventTime, firstTimestamp and
// metadata.creationTimestamp (receive time when none is set); Count is the
// largest of count and series.count, at least 1. Labels: namespace, kind and
// name of the involved object, pod (when the kind is Pod), container (from a
// fieldPath such as spec.containers{app}), node (source.host), and the
// involved object's own labels with sanitized names (the fixed labels win
// on conflict; names starting with "__" are dropped). An event carried as a
// JSON string in "message" (a raw Vector log line) is unwrapped too.
//
// An events.k8s.io/v1 (or v1beta1) Event, as exporters reading the newer
// events API write it, decodes to the same event as its core/v1
// equivalent: its object is "regarding" (labels exactly as from
// involvedObject), its message "note", its count the largest of
// series.count and deprecatedCount (at least 1), its time the latest of
// eventTime, series.lastObservedTime, deprecatedFirstTimestamp,
// deprecatedLastTimestamp and metadata.creationTimestamp, node from
// deprecatedSource.host, UID metadata.uid (snake_case spellings such as
// deprecated_count accepted as above). reportingController,
// reportingInstance, action and related are not read. The same envelopes
// (a list, "items", "event", a watch event's "object", JSON in "message")
// carry it.
//
// omen module events (FormatModuleEvents), one JSON object per event:
//
//	{"time":"2023-11-14T22:13:20Z","namespace":"shop","pod":"cart-7d9f","container":"cart",
//	 "module":"payments","service":"cart","node":"node-1","reason":"ModuleLoadError",
//	 "level":"error","message":"cannot load module payments: …","count":1}
//
// "time" is an RFC 3339 string or milliseconds since the epoch (receive time
// when absent); "reason" is required; "level" becomes Event.Type (default
// "error"); "count" defaults to 1. namespace, pod, container, module,
// service and node become labels when not empty.
//
// For both event formats a payload may hold one object, a JSON array of
// objects, an envelope ({"items":[…]} for Kubernetes, {"events":[…]} for
// module events) or newline-delimited JSON. FormatEvents chooses per item by
// shape: an item with involvedObject/involved_object/regarding/metadata
// (possibly under "event"/"object") or an events.k8s.io apiVersion is a
// Kubernetes event, anything else a module event.
//
// # Content-Type
//
// Detect chooses the format of a NATS message from its subject and its
// Content-Type header: see Detect for the recognised types (ContentTypes
// lists them, and any +json type is JSON). A recognised type wins over
// the subject's format token. A message without the header, as
// Telegraf's outputs.nats publishes, takes its subject's format (influx
// on omen.metrics), and so does one with an unrecognised Content-Type
// when the subject names its format (omen.metrics.influx, .prom, .json)
// or is an events subject: bridges pass upstream headers through. On a
// metrics subject without a format token an unrecognised Content-Type is
// a ReasonUnknownFormat error naming it and the recognised ones, not a
// guess of influx.
//
// # Line numbers
//
// Error.Line is the 1-based line for the line-oriented formats and the
// 1-based position of the item (sample or event) within the payload for
// JSON; 0 means the payload as a whole.
//
// # Performance
//
// Label sets are interned in a bounded two-generation cache keyed by the
// series bytes of the payload, so a series seen before costs no allocation
// and no validation. The generations turn when one is full
// (Options.CacheSize) and every Options.CacheIdle (default 10m), so the
// sets of series that stopped (churned pods) are dropped within two
// CacheIdle. A Decoder is not safe for concurrent use; use one per
// goroutine (New is cheap).
package decode
