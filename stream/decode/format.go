package decode

import (
	"errors"
	"fmt"
	"maps"
	"mime"
	"slices"
	"strings"
)

// Format names a payload encoding.
type Format string

// Formats.
const (
	FormatInflux           Format = "influx"      // Influx line protocol (Telegraf)
	FormatPromText         Format = "prom"        // Prometheus text exposition format
	FormatOpenMetrics      Format = "openmetrics" // OpenMetrics text (timestamps in seconds)
	FormatJSON             Format = "json"        // omen JSON samples
	FormatKubernetesEvents Format = "kubernetes"  // Kubernetes v1 Event JSON
	FormatModuleEvents     Format = "module"      // omen module-event JSON
	FormatEvents           Format = "events"      // Kubernetes or module events, chosen per item by shape
)

// String returns the format's name.
func (f Format) String() string { return string(f) }

// Subject class tokens.
const (
	classMetrics = "metrics"
	classEvents  = "events"
)

var metricFormatTokens = map[string]Format{
	"influx": FormatInflux, "lp": FormatInflux, "line": FormatInflux,
	"prom": FormatPromText, "prometheus": FormatPromText, "text": FormatPromText,
	"json": FormatJSON,
}

var eventFormatTokens = map[string]Format{
	"k8s": FormatKubernetesEvents, "kubernetes": FormatKubernetesEvents, "kube": FormatKubernetesEvents,
	"module": FormatModuleEvents, "modules": FormatModuleEvents,
	"json": FormatEvents, "auto": FormatEvents,
}

// formatNone marks the Content-Types that name no format
// (application/octet-stream): the subject decides.
const formatNone Format = "-"

// contentTypeFormats maps the recognised Content-Type media types to their
// formats. text/plain names FormatPromText only with a version parameter;
// FormatJSON means JSON samples or events, by the subject's class. Any
// media type with a +json suffix (application/cloudevents+json) is JSON
// too (see contentTypeFormat).
var contentTypeFormats = map[string]Format{
	"application/openmetrics-text":         FormatOpenMetrics,
	"application/x-influx-line-protocol":   FormatInflux,
	"text/x-influx-line-protocol":          FormatInflux,
	"application/vnd.influx.line-protocol": FormatInflux,
	"text/plain":                           FormatPromText,
	"application/json":                     FormatJSON,
	"application/x-json":                   FormatJSON,
	"text/json":                            FormatJSON,
	"application/x-ndjson":                 FormatJSON,
	"application/jsonl":                    FormatJSON,
	"application/x-jsonlines":              FormatJSON,
	"application/octet-stream":             formatNone,
}

// contentTypeFormat returns the format a media type names: its entry in
// contentTypeFormats, FormatJSON for a +json suffix (RFC 6839), "" when
// it is not recognised.
func contentTypeFormat(mt string) Format {
	if f, ok := contentTypeFormats[mt]; ok {
		return f
	}
	if _, sub, ok := strings.Cut(mt, "/"); ok && strings.HasSuffix(sub, "+json") {
		return FormatJSON
	}
	return ""
}

// ContentTypes returns the media types Detect recognises in a
// Content-Type header, sorted (and any type with a +json suffix).
func ContentTypes() []string {
	return slices.Sorted(maps.Keys(contentTypeFormats))
}

// contentTypesHint lists the recognised Content-Types for the error of
// an unrecognised one (a dead letter's Omen-Dlq-Error).
func contentTypesHint() string {
	return "omen reads " + strings.Join(ContentTypes(), ", ") +
		", any type/subtype+json" +
		" (text/plain; version=0.0.4 is Prometheus text; text/plain without version and application/octet-stream leave the format to the subject), or no Content-Type"
}

// Detect chooses the format of a message from its NATS subject and its
// Content-Type header (either may be empty).
//
// The subject's class is its first "metrics" or "events" token (omen.metrics,
// omen.events, prefix.omen.metrics, …). The token right after the class, if
// any, names the format: influx|lp|line, prom|prometheus|text, json for
// metrics; k8s|kubernetes|kube, module|modules, json|auto for events.
// Further tokens (omen.metrics.influx.p3) are ignored. An unknown format token
// is an error.
//
// A Content-Type header that names a format wins over the subject, its
// format token included (as it did before unrecognised types were
// refused): application/x-influx-line-protocol (or
// text/x-influx-line-protocol, application/vnd.influx.line-protocol) →
// influx; text/plain with a version parameter (text/plain; version=0.0.4,
// what Prometheus exposes) → prom; application/openmetrics-text →
// openmetrics (FormatOpenMetrics: timestamps in seconds);
// application/json, application/x-json, text/json, application/x-ndjson,
// application/jsonl, application/x-jsonlines and any type with a +json
// suffix (application/cloudevents+json) → json on metrics subjects and
// events (by shape, or the subject's events format token) on events
// subjects. text/plain without version (which both text formats use) and
// application/octet-stream name no format: the subject decides, as it
// does without the header (Telegraf's outputs.nats and the nats CLI send
// none).
//
// Any other Content-Type (application/xml, application/x-protobuf, an
// unparsable one) leaves the choice to the subject when the subject
// names a format (omen.metrics.influx, omen.events) or is an events
// subject (every events format is JSON, chosen per item by shape): bridges
// pass upstream Content-Types through. Only on a metrics subject without
// a format token, whose influx default would be a guess that
// dead-letters the payload as malformed line protocol, is it an error
// naming the header and the recognised types (see ContentTypes). A header
// whose parameters do not parse (text/plain;charset=utf-8,) is read by its
// media type, as net/http does. With neither header nor format token,
// metrics default to influx and events to events by shape.
//
// Errors wrap an Error with ReasonUnknownFormat.
func Detect(subject, contentType string) (Format, error) {
	class, token, hasToken := subjectClass(subject)

	if contentType = strings.TrimSpace(contentType); contentType != "" {
		mt, params, err := mime.ParseMediaType(contentType)
		if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
			mt = ""
		}
		switch f := contentTypeFormat(mt); f {
		case FormatInflux, FormatOpenMetrics:
			return f, nil
		case FormatPromText:
			if _, ok := params["version"]; ok {
				return FormatPromText, nil
			}
		case FormatJSON:
			switch class {
			case classMetrics:
				return FormatJSON, nil
			case classEvents:
				if hasToken {
					if ef, ok := eventFormatTokens[token]; ok {
						return ef, nil
					}
				}
				return FormatEvents, nil
			}
			return "", unknownFormat(subject, contentType, "JSON on a subject that is neither metrics nor events")
		case formatNone:
		default:
			if class == classMetrics && !hasToken {
				why := "unsupported content type"
				if err != nil {
					why = fmt.Sprintf("cannot parse the content type (%v)", err)
				}
				return "", unknownFormat(subject, contentType, why+" on a subject without a format token (omen.metrics.influx, omen.metrics.prom or omen.metrics.json would name it); "+contentTypesHint())
			}
		}
	}

	switch class {
	case classMetrics:
		if !hasToken {
			return FormatInflux, nil
		}
		if f, ok := metricFormatTokens[token]; ok {
			return f, nil
		}
		return "", unknownFormat(subject, contentType, fmt.Sprintf("unknown metrics format token %q", token))
	case classEvents:
		if !hasToken {
			return FormatEvents, nil
		}
		if f, ok := eventFormatTokens[token]; ok {
			return f, nil
		}
		return "", unknownFormat(subject, contentType, fmt.Sprintf("unknown events format token %q", token))
	}
	return "", unknownFormat(subject, contentType, "no metrics or events token in subject and no recognised content type")
}

func subjectClass(subject string) (class, token string, hasToken bool) {
	rest := subject
	for rest != "" {
		var tok string
		tok, rest, _ = strings.Cut(rest, ".")
		if tok == classMetrics || tok == classEvents {
			if rest == "" {
				return tok, "", false
			}
			next, _, _ := strings.Cut(rest, ".")
			return tok, strings.ToLower(next), true
		}
	}
	return "", "", false
}

func unknownFormat(subject, contentType, why string) error {
	return Error{Reason: ReasonUnknownFormat, Msg: fmt.Sprintf("subject %q, content type %q: %s", subject, contentType, why)}
}
