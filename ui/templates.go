package ui

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
)

var funcs = template.FuncMap{
	// g is the exact value as in the API's JSON, for data attributes.
	"g":  func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) },
	"f1": func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f3": func(v float64) string { return fmt.Sprintf("%.3f", v) },
	// p4 renders a value on the probability scale (f(x), the baseline
	// E[f(X)]) with 4 decimals, or two significant digits below 0.01: a
	// calibrated baseline of 6.3e-07 read 0.0000 (api.ProbText).
	"p4": func(v float64) string { return api.ProbText(v, 4) },
	// phi renders a Shapley value with its sign, in scientific notation
	// below 0.001 (api.PhiText).
	"phi":  api.PhiText,
	"pct":  func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
	"val":  func(v float64) string { return strconv.FormatFloat(v, 'g', 5, 64) },
	"time": func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05Z") },
	// dur is a duration in ms as Go prints it, without zero units: 8m, 15s, 1h30m.
	"dur":   durMs,
	"clock": func(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04:05Z") },
	// prob renders a probability p as a percent with as many decimals as
	// it takes to differ from its threshold thr when they differ (as the
	// alert description does: alert.Percents); thr renders the threshold
	// alongside. A 3-decimal rendering showed P 0.99308, under the
	// threshold 0.99347, as "0.993 (threshold 0.993)".
	// Each keeps its own precision (two significant digits) where they
	// differ enough: alert.Percents gave the threshold the decimals of
	// the smaller probability, "0.000054% (under the threshold
	// 40.848708%)".
	"prob": func(p, thr float64) string { return percentPair(p, thr)[0] },
	"thr":  func(thr, p float64) string { return percentPair(p, thr)[1] },
	"pct2": func(v float64) string { return alert.Percents(v)[0] },
	// anomaly renders an anomaly score and, when the model version that
	// scored it has one, the anomaly threshold it is compared with, with
	// the digits that tell them apart.
	"anomaly":     anomalyText,
	"metricLabel": metricLabel,
	// isURL reports whether an annotation value is a link (absolute http(s)
	// or a path on this server); html/template still vets the URL.
	"isURL": func(v string) bool {
		return strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//")
	},
	"entityURL": func(e string) template.URL {
		return template.URL(api.EntityUIPath(e))
	},
	// link is a path the API built (api.Decorate), already escaped.
	"link": func(p string) template.URL { return template.URL(p) },
	// worstOf names the entity a service's cause links to ("" when the
	// cause is that entity).
	"worstOf": func(c api.EntityCause) string {
		if e := api.CauseEntity(c); e != c.Entity {
			return e
		}
		return ""
	},
	"alertURL": func(id string) template.URL { return template.URL(api.AlertUIPath(id)) },
	"apiURL":   func(id string) template.URL { return template.URL(api.ExplanationPath(id)) },
	"overviewURL": func(k, v string) template.URL {
		return template.URL("/ui/?" + url.Values{"match[" + k + "]": {v}}.Encode())
	},
	// alertsAPIURL is the API's alert list with the page's filter.
	"alertsAPIURL": func(m map[string]string) template.URL {
		v := url.Values{}
		for k, x := range m {
			v.Set("match["+k+"]", x)
		}
		if len(v) == 0 {
			return "/api/v1/alerts"
		}
		return template.URL("/api/v1/alerts?" + v.Encode())
	},
	// alertOnly reports whether an alert label is the alert's own, not its
	// entity's (no entity has it: it filters no entity).
	"alertOnly": func(k string) bool { return k == "alertname" || k == "severity" },
	"minus":     func(a, b int64) int64 { return a - b },
	"sortedKeys": func(m map[string]string) []string {
		ks := make([]string, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	},
	"add":    func(a, b float64) float64 { return a + b },
	"add1":   func(i int) int { return i + 1 },
	"probw":  func(p float64) float64 { return 50 * math.Max(0, math.Min(1, p)) },
	"sharew": func(s float64) float64 { return math.Round(120 * math.Max(0, math.Min(1, s))) },
	"edgew":  func(w float64) float64 { return 1 + math.Min(3, w) },
	"sub":    func(a, b float64) float64 { return a - b },
	"mul":    func(n int, ms int64) int64 { return int64(n) * ms },
	"mul2":   func(i int, f float64) float64 { return float64(i) * f },
	"mulf":   func(a, b float64) float64 { return a * b },
}

// anomalyText renders score against the anomaly threshold of m, the model
// version that scored it (nil when unknown: then version, when not empty,
// is named as the model whose threshold is not known).
func anomalyText(score float64, m *api.ModelInfo, version string) string {
	switch {
	case m == nil && version != "":
		return fmt.Sprintf("%s (the anomaly threshold of model %s, which scored it, is not known)", distinct(score)[0], version)
	case m == nil || !(m.AnomalyThreshold > 0):
		return distinct(score)[0]
	}
	ds := distinct(score, m.AnomalyThreshold)
	side := "under"
	if score >= m.AnomalyThreshold {
		side = "at or over"
	}
	return fmt.Sprintf("%s (%s the anomaly threshold %s of model %s)", ds[0], side, ds[1], m.Version)
}

// percentPair renders a probability p and its threshold thr as percents,
// each with 2 decimals or as many as its two significant digits need
// (alert.Percents' rule for one value), then more for both (up to 6) as
// long as the two renderings, read back, do not order as p and thr do: a
// probability just under its threshold must not read as equal to it, or
// over it.
func percentPair(p, thr float64) [2]string {
	vs := [2]float64{finiteOr0(p) * 100, finiteOr0(thr) * 100}
	var d [2]int
	for i, v := range vs {
		d[i] = min(max(2, alert.SignificantDecimals(v)), 6)
	}
	for {
		var out [2]string
		var back [2]float64
		for i, v := range vs {
			out[i] = strconv.FormatFloat(v, 'f', d[i], 64)
			back[i], _ = strconv.ParseFloat(out[i], 64)
			out[i] += "%"
		}
		if cmp.Compare(back[0], back[1]) == cmp.Compare(vs[0], vs[1]) || d[0] >= 6 && d[1] >= 6 {
			return out
		}
		d[0], d[1] = min(d[0]+1, 6), min(d[1]+1, 6)
	}
}

// finiteOr0 is v, or 0 when v is NaN or infinite (as alert's
// renderings).
func finiteOr0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// distinct renders values with 2 decimals, or more (up to 6) as long as
// two different values would render the same (alert.Percents without the
// percent).
func distinct(vs ...float64) []string {
	out := make([]string, len(vs))
	for d := 2; ; d++ {
		seen := make(map[string]float64, len(vs))
		clash := false
		for i, v := range vs {
			out[i] = strconv.FormatFloat(v, 'f', d, 64)
			if w, ok := seen[out[i]]; ok && w != v {
				clash = true
			}
			seen[out[i]] = v
		}
		if !clash || d == 6 {
			return out
		}
	}
}

// metricLabel names a training metric of the model card: val_score is the
// validation average precision (AUC-PR) of the failure head, or minus the
// validation loss when validation held no failure (training scores epochs
// so then).
func metricLabel(k string, v float64) string {
	switch {
	case k == "val_score" && v >= 0:
		return "validation AUC-PR (average precision; val_score)"
	case k == "val_score":
		return "validation score (−validation loss: no failure in validation; val_score)"
	case k == "val_loss":
		return "validation loss (val_loss)"
	}
	return k
}

// durMs formats ms as Prometheus writes durations ("8m", "1h30m", "15s",
// "250ms"), as the configuration's step and lookback are written.
func durMs(ms int64) string {
	return pmodel.Duration(time.Duration(ms) * time.Millisecond).String()
}

func parseTemplates() (*template.Template, error) {
	t, err := template.New("ui").Funcs(funcs).Parse(templateText)
	if err != nil {
		return nil, fmt.Errorf("ui: parse templates: %w", err)
	}
	return t, nil
}

const templateText = `
{{define "head"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · omen</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:18px;align-items:baseline}
header a{color:#fff;text-decoration:none;font-weight:600}
header .sub{color:#aab;font-size:12px}
main{padding:16px 20px;max-width:1200px}
h1{font-size:20px;margin:8px 0 12px;word-break:break-all}
h2{font-size:16px;margin:22px 0 8px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px 16px;margin-bottom:16px;overflow-x:auto}
table{border-collapse:collapse}
th,td{text-align:left;padding:4px 10px;border-bottom:1px solid #eceff3;vertical-align:middle}
th{font-weight:600;color:#556;font-size:12px;text-transform:uppercase}
td.num{text-align:right;font-variant-numeric:tabular-nums}
a{color:#1f5fbf}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;color:#fff}
.firing{background:#c81e28}.pending{background:#e8a33d;color:#1d2330}.resolved{background:#2b7a47}.unlisted{background:#5a6270}
.muted{color:#667}
.notice{background:#fff4e0;border-left:4px solid #a15c00;padding:6px 10px}
.kv{display:grid;grid-template-columns:max-content auto;gap:2px 14px}
.lbl{display:inline-block;background:#eef1f6;border-radius:3px;padding:0 5px;margin:1px 2px;font-size:12px}
svg text{font:11px system-ui,sans-serif;fill:#334}
svg .title{font-weight:600}
.pos{fill:#d7263d}.neg{fill:#1e6fd9}
.sharebar{display:inline-block;height:9px;background:#d7263d;border-radius:2px;vertical-align:middle}
.sharebar.neg{background:#1e6fd9}
svg text.stale{fill:#a15c00}
svg text.wf-others{font-style:italic}
form.explain-now{display:inline;margin:0}
form.explain-now button{font:inherit;color:#1f5fbf;background:#fff;border:1px solid #1f5fbf;border-radius:4px;padding:0 8px;cursor:pointer}
main{overflow-wrap:anywhere}
th,td.num{overflow-wrap:normal;white-space:nowrap}
.badge,.nowrap,a.pending-entity{overflow-wrap:normal;white-space:nowrap}
#waterfall,#waterfall-narrow,#chart,#chart-narrow{max-width:100%;height:auto}
.plot-scroll{max-width:100%;overflow-x:auto}
#heatmap,#graph{display:block;max-width:none}
.scroll-hint{display:none}
#waterfall-narrow,#chart-narrow{display:none}
</style>
<style media="(max-width:640px)">
header{padding:8px 10px;flex-wrap:wrap;gap:2px 14px}
main{padding:10px}
section{padding:10px}
.kv{grid-template-columns:minmax(0,1fr);gap:0}
.kv>span:nth-child(odd){font-size:12px;font-weight:600;color:#556;margin-top:6px}
table.stack,table.stack tbody,table.stack tr{display:block}
table.stack tr:first-child{display:none}
table.stack tr{border-bottom:1px solid #eceff3;padding:6px 0}
table.stack td{display:inline-block;border:0;padding:2px 10px 2px 0;text-align:left}
table.stack td:first-child{display:block}
table.stack td:empty{display:none}
table.stack td[data-label]::before{content:attr(data-label) ": ";font-size:12px;color:#556}
#waterfall,#chart{display:none}
#waterfall-narrow,#chart-narrow{display:block}
.scroll-hint{display:block;margin:4px 0 0}
</style></head><body>
<header><a href="/ui/">omen</a><span class="sub">predicted module-load failures, explained</span></header>
<main>
{{end}}

{{define "foot"}}</main></body></html>{{end}}

{{define "error"}}{{template "head" .}}
<h1>{{.Body.Code}} {{.Title}}</h1>
<section><p id="error" data-code="{{.Body.Code}}">{{.Body.Err}}</p>{{with .Body.Hint}}<p id="error-hint">{{.}}</p>{{end}}{{if .Body.Link}}<p><a id="error-link" href="{{link .Body.Link}}">{{.Body.LinkText}}</a></p>{{end}}<p><a href="/ui/">back to the overview</a></p></section>
{{template "foot"}}{{end}}

{{define "labels"}}{{$m := .}}{{range sortedKeys .}}<a class="lbl" href="{{overviewURL . (index $m .)}}">{{.}}="{{index $m .}}"</a>{{end}}{{end}}

{{/* An alert's labels: its entity's labels filter the overview; alertname and severity, which no entity has, are not links. */}}
{{define "alertLabels"}}{{$m := .}}{{range sortedKeys .}}{{if alertOnly .}}<span class="lbl alert-only">{{.}}="{{index $m .}}"</span>{{else}}<a class="lbl" href="{{overviewURL . (index $m .)}}">{{.}}="{{index $m .}}"</a>{{end}}{{end}}{{end}}

{{define "alerts"}}{{if .}}<table id="alerts" class="stack">
<tr><th>state</th><th>entity</th><th>P(failure) / threshold</th><th>active since</th><th>resolved at</th><th>labels</th><th></th></tr>
{{range .}}<tr class="alert" data-fingerprint="{{.Fingerprint}}" data-state="{{.State}}">
<td><span class="badge {{.State}}">{{.State}}</span></td>
<td><a href="{{entityURL .Entity}}">{{.Entity}}</a></td>
<td class="num" data-label="P(failure) / threshold" data-prob="{{g .Probability}}">{{prob .Probability .Threshold}} <span class="muted">/ {{thr .Threshold .Probability}}</span></td>
<td data-label="active since">{{if .ActiveAt}}{{time .ActiveAt}}{{end}}{{if .EscalatedAt}}<br><span class="escalated-at muted" data-escalated-at="{{.EscalatedAt}}">escalated to critical at {{time .EscalatedAt}}</span>{{end}}</td>
<td{{if .ResolvedAt}} class="resolved-at" data-resolved-at="{{.ResolvedAt}}"{{end}} data-label="resolved at">{{if .ResolvedAt}}{{time .ResolvedAt}}{{end}}</td>
<td>{{template "alertLabels" .Labels}}</td>
<td>{{if eq .State "pending"}}<a class="pending-entity" href="{{entityURL .Entity}}">entity</a> <span class="muted">(explained when it fires)</span>{{else}}<a class="nowrap" href="{{alertURL .Fingerprint}}">explanation</a>{{end}}</td></tr>
{{end}}</table>{{else}}<p class="muted" id="no-alerts">No alerts listed (a resolved alert is listed only while omen re-sends its resolution, 15m by default; its page /ui/alerts/FINGERPRINT stays).</p>{{end}}{{end}}

{{define "overview"}}{{template "head" .}}{{with .Body}}
<h1>Fleet{{if .Matchers}} <span class="muted">where</span> {{template "labels" .Matchers}} <a href="/ui/" class="muted">(all)</a>{{end}}</h1>
<section><h2>Alerts</h2>{{template "alerts" .Alerts}}{{if .MoreAlerts}}<p class="muted" id="more-alerts">{{.MoreAlerts}} more alerts (<a id="more-alerts-json" href="{{alertsAPIURL .Matchers}}">all{{if .Matchers}} of the filter{{end}}, as JSON</a>).</p>{{end}}</section>
<section><h2>Where the pressure is</h2>{{if and .NoModel (or .Heatmap.Rows .Gone)}}
<p class="notice" id="no-model">No model is loaded: {{template "noModelWhy" .NoModel}}. The predictions shown are from before it stopped scoring (the newest of {{time .Newest}}); nothing is scored until a model that fits is promoted (<code>omen train</code>, <code>omen model promote</code>).</p>{{end}}
{{if and .Heatmap.Rows (not .Heatmap.Columns)}}<p class="muted" id="heatmap-unexplained">The {{len .Heatmap.Rows}} entities most likely to fail{{if gt .Total (len .Heatmap.Rows)}} (of {{.Total}}){{end}}, by P(failure): no explanation is stored for any of them, so there are no feature-group cells (omen explains a prediction when its alert fires; an entity's page explains it now).</p>
{{else if .Heatmap.Rows}}<p class="muted">The {{len .Heatmap.Rows}} entities most likely to fail{{if gt .Total (len .Heatmap.Rows)}} (of {{.Total}}){{end}}, by feature group: red cells push the failure probability up (attribution φ of the latest explanation: of the latest prediction, else of the entity's alert, else the newest stored of its last {{dur .HistoryMs}}, such as an alert's no longer listed), blue cells down; "φ as of" gives the time of the prediction explained, in orange with its age when it is older than the latest prediction (the newest stored explanation: of the step an alert fired on, possibly resolved since, or of an explain-now); grey: no explanation stored (omen explains a prediction when its alert fires; an entity's page explains it now).</p>{{end}}
{{if .Heatmap.Rows}}{{with .Heatmap}}
<div class="plot-scroll" id="heatmap-scroll"><svg id="heatmap" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="heat map of attributions">
<text x="{{.PX}}" y="{{sub .Header 6}}" text-anchor="end" class="title">P</text>
{{$hdr := .Header}}{{range .Columns}}<text transform="translate({{add .X 4}},{{sub $hdr 6}}) rotate(-60)" class="col" data-group="{{.Name}}"><title>{{.Name}}</title>{{.Label}}</text>
{{end}}{{$nameX := .NameX}}{{$probX := .ProbX}}{{range .Rows}}<g class="hm-row" data-entity="{{.Prediction.Entity}}" data-prob="{{g .Prediction.Probability}}">
<a href="{{entityURL .Prediction.Entity}}"><text class="hm-entity" x="{{$nameX}}" y="{{add .Y 15}}" text-anchor="end">{{if .Cut}}<title>{{.Prediction.Entity}}</title>{{end}}{{.Label}}</text></a>
<rect x="{{$probX}}" y="{{add .Y 2}}" width="{{probw .Prediction.Probability}}" height="18" fill="{{.ProbColor}}"><title>P(failure) {{prob .Prediction.Probability .Prediction.Threshold}} (threshold {{thr .Prediction.Threshold .Prediction.Probability}})</title></rect>
{{$id := or .ExplainedAlert .ExplainedID}}{{range .Cells}}{{if .Has}}<a href="{{alertURL $id}}">{{end}}<rect class="hm-cell" x="{{.X}}" y="{{.Y}}" width="21" height="21" fill="{{.Color}}" data-group="{{.Group}}"{{if .Has}} data-phi="{{g .Phi}}"{{end}}><title>{{.Group}}: {{if .Has}}φ {{phi .Phi}}{{else}}no explanation{{end}}</title></rect>{{if .Has}}</a>{{end}}
{{end}}{{if .Explained}}<text class="hm-asof{{if .AgeMs}} stale{{end}}" x="{{.AsOfX}}" y="{{add .Y 15}}" data-explained-t="{{.ExplainedT}}">φ as of {{clock .ExplainedT}}{{if .AgeMs}} ({{dur .AgeMs}} old){{end}}<title>explanation of the prediction at {{time .ExplainedT}}{{if .AgeMs}}, {{dur .AgeMs}} before the latest prediction ({{time .Prediction.T}}): {{with .ExplainedAlert}}the explanation of the step alert {{.}} fired on, kept while it fires and after it resolves{{else}}the newest explanation stored for the entity, of the step an alert fired on (kept after the alert resolves) or of an explain-now{{end}}{{end}}</title></text>{{end}}</g>
{{end}}</svg></div><p class="muted scroll-hint" id="heatmap-hint">Scroll the heat map sideways for its feature groups: it keeps its size on a narrow screen.</p>{{end}}{{else if .Gone}}<p class="muted" id="no-current">No current entity{{if .Matchers}} matches the filter{{end}}: those below are gone.</p>{{else if .Matchers}}<p id="no-match">No entity matches the filter {{template "labels" .Matchers}}. <a href="/ui/" id="clear-filter">Clear the filter</a>.</p>{{else if not .Model}}<p class="muted" id="no-predictions">No predictions yet: no model is loaded{{with .NoModel}}{{if .Reason}} ({{.Reason}}){{end}}{{end}}. omen stores the features it computes meanwhile; train a model on them (<code>omen train</code>) and promote it, and every entity is scored from the next step.</p>{{else}}<p class="muted" id="no-predictions">No predictions yet.</p>{{end}}
</section>
{{if .Gone}}<section id="gone"><h2>Gone</h2><p class="muted">{{.GoneTotal}} entit{{if eq .GoneTotal 1}}y{{else}}ies{{end}} without a prediction for {{dur .GoneAfterMs}} or more before the fleet's newest ({{time .Newest}}): omen stops scoring an entity, and resolves its alert, after {{dur .GoneAfterMs}} without data (a pod replaced by a deploy, or stopped). Their last P(failure) is left out of the heat map above.{{if gt .GoneTotal (len .Gone)}} The {{len .Gone}} last seen most recently:{{end}}</p>
<table id="gone-entities" class="stack"><tr><th>entity</th><th>last P(failure) / threshold</th><th>last prediction</th><th>age</th></tr>
{{$now := .Newest}}{{range .Gone}}<tr class="gone-entity" data-entity="{{.Entity}}" data-t="{{.T}}"><td><a href="{{entityURL .Entity}}">{{.Entity}}</a></td><td class="num" data-label="last P(failure) / threshold">{{prob .Probability .Threshold}} <span class="muted">/ {{thr .Threshold .Probability}}</span></td><td data-label="last prediction">{{time .T}}</td><td>{{dur (minus $now .T)}} before</td></tr>
{{end}}</table></section>{{end}}
{{with .Model}}<section id="model"><h2>Model</h2><div class="kv">
<span>version</span><span data-version="{{.Version}}">{{.Version}}</span>
<span>registered</span><span>{{time .Created}}</span>
<span>window</span><span id="model-window" data-window="{{.Window}}" data-step-ms="{{.StepMs}}" data-horizon-ms="{{.HorizonMs}}">{{dur (mul .Window .StepMs)}} ({{.Window}} steps of {{dur .StepMs}}), horizon {{dur .HorizonMs}}</span>
<span>threshold</span><span data-threshold="{{g .Threshold}}">{{pct2 .Threshold}} <span class="muted">(P(failure) at or over it counts towards an alert)</span></span>
<span>anomaly threshold</span><span id="model-anomaly-threshold" data-anomaly-threshold="{{g .AnomalyThreshold}}">{{if gt .AnomalyThreshold 0.0}}{{f3 .AnomalyThreshold}} <span class="muted">(anomaly score at or over it: the forecast residual is anomalous)</span>{{else}}<span class="muted">none</span>{{end}}</span>
<span>features</span><span>{{len .Features}}</span>
{{$thr := .Threshold}}{{range $k, $v := .Metrics}}{{if ne $k "threshold"}}<span>{{metricLabel $k $v}}</span><span class="model-metric" data-metric="{{$k}}">{{f3 $v}}</span>{{else if ne $v $thr}}<span>training threshold</span><span>{{pct2 $v}}</span>{{end}}{{end}}
</div></section>{{else}}{{with .NoModel}}<section id="model"><h2>Model</h2><p id="model-none">None loaded: {{template "noModelWhy" .}}.</p></section>{{end}}{{end}}
{{end}}{{template "foot"}}{{end}}

{{define "noModelWhy"}}{{if .Reason}}{{.Reason}}{{else}}none is promoted{{end}}{{end}}

{{define "service"}}{{template "head" .}}{{with .Body}}
<h1>Service {{.Name}}</h1>
<section>{{if gt .Total (len .Entities)}}<p class="muted" id="service-capped" data-total="{{.Total}}">{{.Total}} current entities: the {{len .Entities}} likeliest to fail, the likeliest first. <a href="{{entityURL .Name}}?all=1" id="service-all">All of them</a>, by name.</p>{{end}}{{if .Entities}}<table id="service-entities" class="stack"><tr><th>entity</th><th>P(failure) / threshold</th><th>at</th></tr>
{{range .Entities}}<tr class="service-entity" data-entity="{{.Entity}}"><td><a href="{{entityURL .Entity}}">{{.Entity}}</a></td><td class="num" data-label="P(failure) / threshold" data-prob="{{g .Probability}}">{{prob .Probability .Threshold}} <span class="muted">/ {{thr .Threshold .Probability}}</span></td><td data-label="at">{{time .T}}</td></tr>{{end}}
</table>{{else}}<p class="muted" id="no-current">No current entity: those below are gone.</p>{{end}}</section>
{{if .Gone}}<section id="gone"><h2>Gone</h2><p class="muted">{{.GoneTotal}} entit{{if eq .GoneTotal 1}}y{{else}}ies{{end}} without a prediction for {{dur .GoneAfterMs}} or more before the fleet's newest ({{time .Newest}}): omen stops scoring an entity, and resolves its alert, after {{dur .GoneAfterMs}} without data (a pod replaced by a deploy, or stopped). Their P(failure) is their last.{{if gt .GoneTotal (len .Gone)}} <span id="gone-capped" data-total="{{.GoneTotal}}">The {{len .Gone}} last seen most recently; <a href="{{entityURL .Name}}?all=1" id="gone-all">all of them</a>, by name.</span>{{end}}</p>
<table id="gone-entities" class="stack"><tr><th>entity</th><th>last P(failure) / threshold</th><th>last prediction</th><th>age</th></tr>
{{$now := .Newest}}{{range .Gone}}<tr class="gone-entity" data-entity="{{.Entity}}" data-t="{{.T}}"><td><a href="{{entityURL .Entity}}">{{.Entity}}</a></td><td class="num" data-label="last P(failure) / threshold" data-prob="{{g .Probability}}">{{prob .Probability .Threshold}} <span class="muted">/ {{thr .Threshold .Probability}}</span></td><td data-label="last prediction">{{time .T}}</td><td>{{dur (minus $now .T)}} before</td></tr>
{{end}}</table></section>{{end}}
{{end}}{{template "foot"}}{{end}}

{{/* The entity page's "explain now" button; a gone entity has no current window to explain. */}}
{{define "explainNow"}}{{if .GoneAgeMs}}<span class="muted" id="no-explain-now">no "explain now": the entity is gone, omen no longer scores its windows</span>{{else}}{{template "explainForm" .Entity}}{{end}}{{end}}

{{/* Explaining stores an explanation (and may replace an alert's stored note): a POST, which
     the cross-origin check covers, never a link (a GET, which any page can make a browser send). */}}
{{define "explainForm"}}<form class="explain-now" method="post" action="{{entityURL .}}"><button type="submit" name="explain" value="now">explain now</button></form>{{end}}

{{define "entity"}}{{template "head" .}}{{with .Body}}
<h1>{{.Entity}}</h1>
{{if .GoneAgeMs}}<p id="gone-notice" data-age-ms="{{.GoneAgeMs}}" style="background:#fff4e0;border-left:4px solid #e8a33d;padding:6px 10px"><strong>Gone: its last prediction, at {{time .Latest.T}}, is {{dur .GoneAgeMs}} behind the fleet's newest ({{time .Newest}}).</strong> omen stops scoring an entity without data (a pod replaced by a deploy, or stopped); the figures below are its last.</p>{{end}}
<section><div class="kv">
<span>P(failure)</span><span id="prob" data-prob="{{g .Latest.Probability}}">{{prob .Latest.Probability .Latest.Threshold}} <span class="muted">(threshold <span data-threshold="{{g .Latest.Threshold}}">{{thr .Latest.Threshold .Latest.Probability}}</span>, at {{time .Latest.T}})</span></span>
<span>anomaly score</span><span id="anomaly" data-anomaly="{{g .Latest.AnomalyScore}}">{{anomaly .Latest.AnomalyScore .ScoredBy .Latest.ModelVersion}}</span>
<span>model</span><span>{{.Latest.ModelVersion}}</span>
<span>labels</span><span>{{template "labels" .Latest.Labels}}</span>
</div></section>
<section><h2>Failure probability</h2>{{with .Chart}}{{if .Empty}}<p class="muted">No history.</p>{{else}}
<svg id="chart" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="failure probability over time" data-y-max="{{g .YMax}}">
<rect x="{{.PlotX}}" y="{{.PlotY}}" width="{{.PlotW}}" height="{{.PlotH}}" fill="#fbfcfd" stroke="#dde1e7"/>
{{$c := .}}{{range .YTicks}}<line class="ytick" x1="{{$c.PlotX}}" x2="{{add $c.PlotX $c.PlotW}}" y1="{{.Y}}" y2="{{.Y}}" stroke="#eef0f3"/><text x="{{sub $c.PlotX 6}}" y="{{add .Y 4}}" text-anchor="end">{{.Label}}</text>{{end}}
{{range .XTicks}}<text x="{{.X}}" y="222" text-anchor="middle">{{.Label}}</text>{{end}}
{{if .HasThreshold}}<line id="threshold" x1="{{.PlotX}}" x2="{{add .PlotX .PlotW}}" y1="{{.ThresholdY}}" y2="{{.ThresholdY}}" stroke="#c81e28" stroke-dasharray="6 4" data-threshold="{{g .Threshold}}"/>{{end}}
<polyline id="prob-line" points="{{.Polyline}}" fill="none" stroke="#1e6fd9" stroke-width="2"/>
{{range .Points}}<circle class="pt{{if .Above}} above{{end}}" cx="{{.X}}" cy="{{.Y}}" r="{{if .Above}}3.5{{else}}2.5{{end}}" fill="{{if .Above}}#c81e28{{else}}#1e6fd9{{end}}" data-t="{{.T}}" data-prob="{{g .Prob}}"><title>{{time .T}}: {{prob .Prob .Threshold}} ({{if .Above}}at or over{{else}}under{{end}} the threshold {{thr .Threshold .Prob}})</title></circle>{{end}}
{{if .HasThreshold}}<text id="threshold-label" x="{{.LabelX}}" y="{{.LabelY}}" text-anchor="{{.LabelAnchor}}" style="fill:#c81e28" paint-order="stroke" stroke="#fbfcfd" stroke-width="3" stroke-linejoin="round" pointer-events="none">{{.ThresholdLabel}}</text>{{end}}
<text x="{{.PlotX}}" y="238" class="muted">UTC</text>
</svg>
{{with .Narrow}}{{template "chartNarrow" .}}{{end}}
<p class="muted" id="chart-legend">Red points: predictions at or over their threshold (what counts towards an alert), {{.Above}} in this span; blue: under it{{if .HasThreshold}}. Near a threshold such as {{pct2 .Threshold}} the height cannot tell them apart: the colour does (hover a point for its value){{end}}.{{if lt .YMax 1.0}} <span id="chart-scale">The axis ends at {{pct2 .YMax}}, not 100%: just over the span's highest P(failure){{if .HasThreshold}} and its threshold{{end}}.</span>{{end}}</p>{{end}}{{end}}</section>
<section><h2>Alerts</h2>{{template "alerts" .Alerts}}</section>
<section><h2>Latest explanation</h2>{{with .Explanation}}
<p id="explanation-time" data-t="{{.X.T}}" data-age-ms="{{$.Body.ExplainAgeMs}}"{{if $.Body.ExplainAgeMs}} class="stale" style="background:#fff4e0;border-left:4px solid #e8a33d;padding:6px 10px"{{end}}><strong>Explains the prediction at {{time .X.T}}</strong>{{if $.Body.ExplainAgeMs}}: <strong>{{dur $.Body.ExplainAgeMs}} before the latest prediction</strong> ({{time $.Body.Latest.T}}, P {{prob $.Body.Latest.Probability $.Body.Latest.Threshold}}), whose explanation is not stored; f(x) below is that earlier prediction's.{{else}} (the latest prediction).{{end}}</p>{{end}}
{{with .Explanation}}{{if .X.Error}}<div><a href="{{alertURL (or .X.AlertFingerprint .X.PredictionID)}}">{{if .X.AlertFingerprint}}alert {{.X.AlertFingerprint}}, {{end}}prediction {{.X.PredictionID}}</a> · {{template "explainNow" $.Body}}</div>
<p id="unexplained">{{.X.Error}}</p>{{template "metrics" .Metrics}}{{else}}<div><a id="explanation-link" href="{{alertURL (or .X.AlertFingerprint .X.PredictionID)}}">{{if .X.AlertFingerprint}}alert {{.X.AlertFingerprint}}, {{end}}prediction {{.X.PredictionID}}</a>{{if $.Body.ExplainNow}} <span class="muted">(explained now)</span>{{end}} · {{template "explainNow" $.Body}}</div>
{{template "waterfall" .Waterfall}}{{template "metrics" .Metrics}}{{end}}
{{else}}<p id="no-explanation">{{.ExplainErr}}</p><div>{{template "explainNow" .}}{{if not .GoneAgeMs}} <span class="muted">(its latest window)</span>{{end}}</div>{{end}}
</section>
{{end}}{{template "foot"}}{{end}}

{{define "waterfall"}}
<svg id="waterfall" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="attribution waterfall" data-baseline="{{g .Baseline}}" data-value="{{g .Value}}">
<text x="{{.ValueX}}" y="14" text-anchor="middle" class="title">f(x) = <tspan id="wf-value" data-value="{{g .Value}}">{{p4 .Value}}</tspan></text>
<line x1="{{.ValueX}}" x2="{{.ValueX}}" y1="18" y2="{{.AxisY}}" stroke="#889" stroke-dasharray="3 3"/>
<line x1="{{.BaseX}}" x2="{{.BaseX}}" y1="18" y2="{{.AxisY}}" stroke="#889" stroke-dasharray="3 3"/>
<line x1="{{.PlotX}}" x2="{{.PlotRight}}" y1="{{.AxisY}}" y2="{{.AxisY}}" stroke="#556"/>
{{range .Ticks}}<line x1="{{.X}}" x2="{{.X}}" y1="{{$.AxisY}}" y2="{{add $.AxisY 4}}" stroke="#556"/><text x="{{.X}}" y="{{add $.AxisY 16}}" text-anchor="middle">{{.Label}}</text>{{end}}
<text x="{{.BaseX}}" y="{{add .AxisY 30}}" text-anchor="middle" class="title">E[f(X)] = <tspan id="wf-baseline" data-baseline="{{g .Baseline}}">{{p4 .Baseline}}</tspan></text>
{{range .Bars}}<g class="wf-row" data-group="{{.Name}}">
<text x="{{$.NameX}}" y="{{.LabelY}}" text-anchor="{{$.NameAnchor}}" class="wf-name{{if .Others}} wf-others{{end}}"><title>{{.Name}}</title>{{.Label}}</text>
<rect class="wf-bar {{if .Positive}}pos{{else}}neg{{end}}{{if .Others}} wf-others{{end}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" data-group="{{.Name}}"{{if .Others}} data-others="{{.Others}}"{{end}} data-kind="{{.Kind}}" data-phi="{{g .Phi}}" data-share="{{g .Share}}" data-start="{{g .Start}}" data-end="{{g .End}}"><title>{{.Name}}: φ {{phi .Phi}} ({{pct .Share}}), {{p4 .Start}} → {{p4 .End}}</title></rect>
<text class="wf-phi" x="{{.TextX}}" y="{{.TextY}}" text-anchor="{{.TextAnchor}}" data-phi="{{g .Phi}}">{{phi .Phi}}</text>
</g>
{{end}}</svg>
{{with .Narrow}}{{template "waterfallNarrow" .}}{{end}}
<p class="muted">SHAP waterfall ({{.Method}}): each bar is one feature group's Shapley value φ, from the baseline E[f(X)] over normal windows (bottom) to this prediction f(x) (top); red raises the failure probability, blue lowers it. Σφ = f(x) − E[f(X)]{{range .Bars}}{{if .Others}}; the bottom bar sums the {{.Others}} groups of smallest |φ|, listed in the window table below{{end}}{{end}}.</p>
{{end}}

{{/* The entity page's chart laid out for a phone's width, shown instead of #chart below 640 px: its classes and ids are its own. */}}
{{define "chartNarrow"}}<svg id="chart-narrow" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="failure probability over time">
<rect x="{{.PlotX}}" y="{{.PlotY}}" width="{{.PlotW}}" height="{{.PlotH}}" fill="#fbfcfd" stroke="#dde1e7"/>
{{$c := .}}{{range .YTicks}}<line x1="{{$c.PlotX}}" x2="{{add $c.PlotX $c.PlotW}}" y1="{{.Y}}" y2="{{.Y}}" stroke="#eef0f3"/><text x="{{sub $c.PlotX 6}}" y="{{add .Y 4}}" text-anchor="end">{{.Label}}</text>{{end}}
{{range .XTicks}}<text x="{{.X}}" y="222" text-anchor="middle">{{.Label}}</text>{{end}}
{{if .HasThreshold}}<line x1="{{.PlotX}}" x2="{{add .PlotX .PlotW}}" y1="{{.ThresholdY}}" y2="{{.ThresholdY}}" stroke="#c81e28" stroke-dasharray="6 4"/>{{end}}
<polyline points="{{.Polyline}}" fill="none" stroke="#1e6fd9" stroke-width="2"/>
{{range .Points}}<circle cx="{{.X}}" cy="{{.Y}}" r="{{if .Above}}3.5{{else}}2.5{{end}}" fill="{{if .Above}}#c81e28{{else}}#1e6fd9{{end}}"><title>{{time .T}}: {{prob .Prob .Threshold}} ({{if .Above}}at or over{{else}}under{{end}} the threshold {{thr .Threshold .Prob}})</title></circle>{{end}}
{{if .HasThreshold}}<text x="{{.LabelX}}" y="{{.LabelY}}" text-anchor="{{.LabelAnchor}}" style="fill:#c81e28" paint-order="stroke" stroke="#fbfcfd" stroke-width="3" stroke-linejoin="round" pointer-events="none">{{.ThresholdLabel}}</text>{{end}}
<text x="{{.PlotX}}" y="238" class="muted">UTC</text>
</svg>{{end}}

{{/* The waterfall laid out for a phone's width, shown instead of #waterfall below 640 px: its classes and ids are its own. */}}
{{define "waterfallNarrow"}}<svg id="waterfall-narrow" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="attribution waterfall">
<text x="{{.ValueText.X}}" y="14" text-anchor="{{.ValueText.Anchor}}" class="title">f(x) = {{p4 .Value}}</text>
<line x1="{{.ValueX}}" x2="{{.ValueX}}" y1="18" y2="{{.AxisY}}" stroke="#889" stroke-dasharray="3 3"/>
<line x1="{{.BaseX}}" x2="{{.BaseX}}" y1="18" y2="{{.AxisY}}" stroke="#889" stroke-dasharray="3 3"/>
<line x1="{{.PlotX}}" x2="{{.PlotRight}}" y1="{{.AxisY}}" y2="{{.AxisY}}" stroke="#556"/>
{{range .Ticks}}<line x1="{{.X}}" x2="{{.X}}" y1="{{$.AxisY}}" y2="{{add $.AxisY 4}}" stroke="#556"/><text x="{{.X}}" y="{{add $.AxisY 16}}" text-anchor="middle">{{.Label}}</text>{{end}}
<text x="{{.BaseText.X}}" y="{{add .AxisY 30}}" text-anchor="{{.BaseText.Anchor}}" class="title">E[f(X)] = {{p4 .Baseline}}</text>
{{range .Bars}}<g class="wfn-row">
<text x="{{$.NameX}}" y="{{.LabelY}}" text-anchor="{{$.NameAnchor}}" class="wfn-name{{if .Others}} wf-others{{end}}"><title>{{.Name}}</title>{{.Label}}</text>
<rect class="wfn-bar {{if .Positive}}pos{{else}}neg{{end}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Name}}: φ {{phi .Phi}} ({{pct .Share}}), {{p4 .Start}} → {{p4 .End}}</title></rect>
<text class="wfn-phi" x="{{.TextX}}" y="{{.TextY}}" text-anchor="{{.TextAnchor}}">{{phi .Phi}}</text>
</g>
{{end}}</svg>{{end}}

{{define "metrics"}}{{if .}}<h2>Window</h2><table id="window" class="stack">
<tr><th>metric</th><th>window</th><th>latest</th><th>φ</th><th>share</th></tr>
{{range .}}<tr id="metric-{{.Name}}" class="metric" data-metric="{{.Name}}">
<td>{{.Name}}</td>
<td data-label="window"><svg width="120" height="24" viewBox="0 0 120 24">{{if .Points}}<polyline points="{{.Points}}" fill="none" stroke="#556" stroke-width="1.3"/>{{end}}</svg></td>
<td class="num" data-label="latest">{{if .HasVal}}<span data-value="{{g .Last}}">{{val .Last}}</span>{{else}}<span class="muted">missing</span>{{end}}</td>
<td class="num" data-label="φ">{{if .HasPhi}}<span data-phi="{{g .Phi}}">{{phi .Phi}}</span>{{end}}</td>
<td data-label="share">{{if .HasPhi}}<span class="sharebar{{if lt .Phi 0.0}} neg{{end}}" style="width:{{sharew .Share}}px"></span> {{pct .Share}}{{end}}</td>
</tr>{{end}}</table>{{end}}{{end}}

{{define "alert"}}{{template "head" .}}{{with .Body}}{{$x := .Explanation.X}}
<h1>{{if .Alert}}Alert <span class="badge {{.Alert.State}}">{{.Alert.State}}</span>{{else if .Fingerprint}}Alert <span class="badge unlisted" id="alert-unlisted">no longer listed</span>{{else}}Prediction{{end}} on <a href="{{entityURL $x.Entity}}">{{$x.Entity}}</a></h1>
<section><div class="kv">
<span>P(failure)</span><span id="prob" data-prob="{{g $x.Probability}}">{{prob $x.Probability $x.Threshold}} <span class="muted">(threshold <span data-threshold="{{g $x.Threshold}}">{{thr $x.Threshold $x.Probability}}</span>)</span></span>
<span>anomaly score</span><span id="anomaly" data-anomaly="{{g $x.AnomalyScore}}">{{anomaly $x.AnomalyScore .ScoredBy $x.ModelVersion}}</span>
<span>predicted at</span><span>{{time $x.T}}</span>
<span>model</span><span>{{$x.ModelVersion}}</span>
<span>prediction</span><span>{{$x.PredictionID}} · <a href="{{apiURL .ID}}">JSON</a></span>
{{if not .Fingerprint}}{{if .FiredOn}}<span>explained for</span><span id="fired-on">{{range $i, $a := .FiredOn}}{{if $i}}, {{end}}<a class="fired-alert" href="{{alertURL $a.Fingerprint}}" data-fingerprint="{{$a.Fingerprint}}">alert {{$a.Fingerprint}}</a> <span class="badge {{$a.State}}">{{$a.State}}</span>{{end}} <span class="muted">(fired on this prediction)</span></span>
{{else}}<span>explained for</span><span id="explanation-origin" class="muted">an alert that fired on this prediction, or an explain-now: no listed alert fired on it, and the stored explanation does not name its alert</span>
{{end}}{{end}}{{if and .Fingerprint (not .Alert)}}<span>state</span><span id="alert-state-unlisted">resolved, or ended otherwise: the alert is no longer in omen's alert list (a resolved alert stays there only while omen re-sends its resolution, 15m by default). The figures here are those of the prediction it fired on, as stored with its explanation.</span>
<span>fingerprint</span><span data-fingerprint="{{.Fingerprint}}">{{.Fingerprint}}</span>
{{end}}{{with .Alert}}{{if ne .Probability $x.Probability}}{{if eq .State "resolved"}}<span>P(failure) when it resolved</span><span id="prob-resolved" data-prob-resolved="{{g .Probability}}">{{prob .Probability .Threshold}} <span class="muted">(its prediction as it resolved, not the newest; the figures above and below are those of the prediction the alert fired on)</span></span>
{{else}}<span>P(failure) now</span><span id="prob-now" data-prob-now="{{g .Probability}}">{{prob .Probability .Threshold}} <span class="muted">(the newest prediction; the figures above and below are those of the prediction the alert fired on)</span></span>
{{end}}{{end}}<span>fingerprint</span><span data-fingerprint="{{.Fingerprint}}">{{.Fingerprint}}</span>
{{if .FiredFingerprint}}<span>fired as</span><span id="fired-fingerprint" data-fired-fingerprint="{{.FiredFingerprint}}">{{.FiredFingerprint}} <span class="muted">(the fingerprint of the warning alert it fired as; Alertmanager knows the critical alert by the one above; both lead here)</span></span>
{{end}}{{if .ActiveAt}}<span>active since</span><span>{{time .ActiveAt}}</span>{{end}}
{{if .EscalatedAt}}<span>escalated</span><span id="escalated-at" data-escalated-at="{{.EscalatedAt}}">escalated to critical at {{time .EscalatedAt}} <span class="muted">(fired warning; its probability reached the critical probability then, in data time. Alertmanager&#39;s critical alert starts then too, unless that time was ahead of the wall clock when omen sent it, as when the data run faster than real time (omen demo): it then starts when sent)</span></span>{{end}}
{{if .ResolvedAt}}<span>resolved at</span><span id="resolved-at" data-resolved-at="{{.ResolvedAt}}">{{time .ResolvedAt}}</span>{{end}}
{{range $k, $v := .Annotations}}<span>{{$k}}</span><span class="annotation" data-annotation="{{$k}}">{{if isURL $v}}<a href="{{$v}}">{{$v}}</a>{{else}}{{$v}}{{end}}</span>{{end}}
<span>alert labels</span><span>{{template "alertLabels" .Labels}}</span>{{end}}
{{with .AlertmanagerURL}}<span>Alertmanager</span><span><a id="alertmanager-link" href="{{.}}">this alert in Alertmanager</a> <span class="muted">(filtered to its labels, silenced or inhibited too: to silence it, or see how it is grouped and routed)</span></span>{{end}}
<span>entity labels</span><span>{{template "labels" $x.Labels}}</span>
</div></section>
{{if $x.Error}}<section id="unexplained"><p>{{$x.Error}}</p><div><a href="{{entityURL $x.Entity}}">{{$x.Entity}}</a>: {{template "explainForm" $x.Entity}} <span class="muted">(its latest window)</span></div></section>
{{else}}<section><h2>Why: attribution by feature group</h2>{{template "waterfall" .Explanation.Waterfall}}</section>
<section><h2>Ranked causes</h2>
<table id="metric-causes"><tr><th>#</th><th>metric</th><th>φ</th><th>share</th></tr>
{{range $i, $c := .Explanation.Causes}}<tr class="metric-cause" data-metric="{{$c.Name}}"><td>{{add1 $i}}</td><td><a href="#metric-{{$c.Name}}">{{$c.Name}}</a></td><td class="num" data-phi="{{g $c.Phi}}">{{phi $c.Phi}}</td><td class="num" data-share="{{g $c.Share}}">{{pct $c.Share}}</td></tr>{{end}}
</table>
{{if not .Explanation.Causes}}<p class="muted" id="no-metric-causes">No feature group raises the failure probability.</p>{{end}}{{with .Explanation.Lowering}}<p class="muted" id="lowering">{{.}} stored group(s) with φ ≤ 0 are not listed: they lower the risk.</p>{{end}}
{{if $x.Causes.Entities}}<h2>Root-cause entities <span style="font-weight:normal" class="muted">(as at the prediction, {{time $x.T}})</span></h2>
<table id="entity-causes"><tr><th>#</th><th>entity</th><th>score</th><th>evidence</th></tr>
{{range $i, $c := $x.Causes.Entities}}<tr class="entity-cause" data-entity="{{$c.Entity}}"><td>{{add1 $i}}</td><td>{{if and $c.Links $c.Links.UI}}<a href="{{link $c.Links.UI}}">{{$c.Entity}}</a>{{with worstOf $c}} <span class="worst-entity">({{.}})</span>{{end}}{{else}}{{$c.Entity}} <span class="worst-entity">(no live entity)</span>{{end}}</td><td class="num" data-score="{{g $c.Score}}">{{f3 $c.Score}}</td><td class="num" data-evidence="{{g $c.Evidence}}">{{f3 $c.Evidence}}</td></tr>{{end}}
</table>{{end}}
</section>{{end}}
<section><h2>Dependency neighbourhood <span id="graph-now" data-now="{{.Now}}" style="font-weight:normal">— now (latest predictions, {{time .Now}}), not at the prediction ({{time $x.T}})</span></h2>
<p class="muted">The graph and its node evidence (each entity's latest anomaly score and failure probability) are read live when this page loads; the root-cause table above was computed when the prediction was explained, so its evidence and the entities the graph links to can differ.</p>
{{with .Graph}}<div class="plot-scroll" id="graph-scroll"><svg id="graph" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="dependency neighbourhood">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#667"/></marker></defs>
{{range .Edges}}<line class="edge" x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}" stroke="#889" stroke-width="{{edgew .Weight}}" marker-end="url(#arrow)" data-from="{{.From}}" data-to="{{.To}}" data-weight="{{g .Weight}}"/>{{end}}
{{range .Nodes}}{{if .Link}}<a href="{{link .Link}}">{{end}}<g class="node" data-node="{{.Name}}" data-evidence="{{g .Evidence}}" data-level="{{g .Level}}"{{if .Risk.Has}} data-prob="{{g .Risk.Prob}}"{{end}}{{if .Risk.Firing}} data-firing="true"{{end}}>
<circle cx="{{.X}}" cy="{{.Y}}" r="{{.R}}" fill="{{.Color}}" stroke="{{if .Centre}}#1d2330{{else}}#889{{end}}" stroke-width="{{if .Centre}}2.5{{else}}1{{end}}"><title>{{.Name}}: evidence {{f3 .Evidence}}{{if .Risk.Has}}, highest P(failure) {{prob .Risk.Prob .Risk.Threshold}} (threshold {{thr .Risk.Threshold .Risk.Prob}}){{end}}{{if .Risk.Firing}}, a firing alert{{end}}</title></circle>
<text class="node-label" x="{{.X}}" y="{{.LabelY}}" text-anchor="middle" paint-order="stroke" stroke="#fff" stroke-width="4" stroke-linejoin="round">{{.Name}}</text></g>{{if .Link}}</a>{{end}}
{{end}}{{$g := .}}{{range $i, $l := .Legend}}<g class="legend-item"><rect x="{{add 10.0 (mul2 $i 96)}}" y="{{sub $g.Height 18}}" width="14" height="14" fill="{{$l.Color}}" stroke="#889"/><text x="{{add 28.0 (mul2 $i 96)}}" y="{{sub $g.Height 7}}">{{$l.Label}}</text></g>{{end}}</svg></div><p class="muted scroll-hint" id="graph-hint">Scroll the graph sideways for all its nodes: it keeps its size on a narrow screen.</p>
<p class="muted" id="graph-legend">Arrows point from caller to callee. Node colour is the node's risk, on fixed scales: the larger of its entities' highest P(failure) over their failure threshold and{{if gt .AnomalyThreshold 0.0}} its evidence (anomaly score plus failure probability) over the model's anomaly threshold {{f3 .AnomalyThreshold}}{{else}} (no model with an anomaly threshold is loaded) nothing else{{end}}: white at 0, a deepening red toward 1, and the firing red for a failing node: one of its entities at or over its failure threshold or with a firing alert{{if gt .AnomalyThreshold 0.0}}, or its evidence at or over the anomaly threshold (an anomalous forecast residual){{end}}; grey: neither is known. Gone entities are left out. Hover a node for its figures.</p>{{else}}<p class="muted">{{.GraphErr}}</p>{{end}}
</section>
<section>{{template "metrics" .Explanation.Metrics}}</section>
{{end}}{{template "foot"}}{{end}}
`
