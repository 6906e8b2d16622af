package decode

import (
	"fmt"
	"mime"
	"strings"
)

// Format names a payload encoding.
type Format string

// Formats.
const (
	FormatInflux           Format = "influx"     // Influx line protocol (Telegraf)
	FormatPromText         Format = "prom"       // Prometheus text exposition format
	FormatJSON             Format = "json"       // omen JSON samples
	FormatKubernetesEvents Format = "kubernetes" // Kubernetes v1 Event JSON
	FormatModuleEvents     Format = "module"     // omen module-event JSON
	FormatEvents           Format = "events"     // Kubernetes or module events, chosen per item by shape
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
// A recognised Content-Type wins over the subject:
// application/x-influx-line-protocol → influx; text/plain with a version
// parameter (text/plain; version=0.0.4) → prom; application/json,
// application/x-ndjson, application/jsonl → json on metrics subjects and
// events (by shape) on events subjects. Other Content-Types (including
// text/plain without version, which both formats use) leave the choice to the
// subject. With neither, metrics default to influx and events to events by
// shape.
//
// Errors wrap an Error with ReasonUnknownFormat.
func Detect(subject, contentType string) (Format, error) {
	class, token, hasToken := subjectClass(subject)

	if contentType != "" {
		if mt, params, err := mime.ParseMediaType(contentType); err == nil {
			switch mt {
			case "application/x-influx-line-protocol", "text/x-influx-line-protocol", "application/vnd.influx.line-protocol":
				return FormatInflux, nil
			case "text/plain":
				if _, ok := params["version"]; ok {
					return FormatPromText, nil
				}
			case "application/json", "application/x-ndjson", "application/jsonl", "application/x-jsonlines":
				switch class {
				case classMetrics:
					return FormatJSON, nil
				case classEvents:
					if hasToken {
						if f, ok := eventFormatTokens[token]; ok {
							return f, nil
						}
					}
					return FormatEvents, nil
				}
				return "", unknownFormat(subject, contentType, "JSON on a subject that is neither metrics nor events")
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
