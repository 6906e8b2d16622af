package nezha

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/omen-sre/omen/explain"
)

// Graph modes for [Options].Graph.
const (
	GraphAuto    = "auto"    // dependency.csv when present, else none
	GraphFile    = "file"    // dependency.csv, an error when missing
	GraphLearned = "learned" // learned from metric correlations
	GraphNone    = "none"    // evidence alone
)

// Options tunes [EvalRCA]. Zero fields take the defaults noted.
type Options struct {
	// Baseline is the length of the normal window before each inject
	// time (30m).
	Baseline time.Duration
	// Window is the length of the anomalous window from the inject time
	// (4m; Nezha faults last about 3 minutes).
	Window time.Duration
	// Persist: a metric's score is its Persist-th largest robust z-score in
	// the window, so a single-sample spike does not count (2).
	Persist int
	// Graph selects the dependency graph (GraphAuto).
	Graph string
	// LearnedMinCorr is the correlation threshold of GraphLearned (0.7).
	LearnedMinCorr float64
	// Rank tunes the propagation over the graph.
	Rank explain.RankOptions
	// TopK is the length of each ranked list (5).
	TopK int
	// KeepFaultWindows keeps the windows of the other injected faults in
	// the baseline (by default they are left out, as a deployment leaves
	// out the windows of earlier alerts).
	KeepFaultWindows bool
	// NoiseQuantileMode selects the older noise normalisation by the
	// NoiseQuantile of single baseline samples; by default a window's
	// scores are divided by the median score of equally long runs of
	// baseline samples (see windowScore).
	NoiseQuantileMode bool
	// NoExplain keeps a service's latency (server-side and, for the entry
	// service, front-service) as its own evidence even when a call to one
	// of its callees slowed down as much; by default the callee's
	// call-latency score (destination side) is subtracted.
	NoExplain bool
	// NoiseQuantile q divides a metric's score by the q-quantile of its
	// robust z-scores over the baseline when that exceeds 1 (0.9; negative
	// disables).
	NoiseQuantile float64
	// ClientLatency counts the pods' client-side latencies as their own
	// evidence; by default they are left out, since they mostly reflect
	// the callees.
	ClientLatency bool
	// NoCallLatency ignores the per-edge latency files; otherwise a
	// caller→callee latency counts as evidence for the callee, scaled by
	// CallWeight (1).
	NoCallLatency bool
	CallWeight    float64
	// NoFront ignores front_service.csv; otherwise its success rate and
	// latencies count as evidence for the entry service.
	NoFront bool
	// FrontWeight scales the front-service evidence (0.5: the entry
	// service's SLIs reflect every fault on the request path, so they count
	// for half of its own metrics).
	FrontWeight float64
	// RawEvidence uses the z-score itself as evidence instead of log(1+z).
	RawEvidence bool
	// Corroboration weighs a service's second most anomalous metric
	// family in its evidence (0: the most anomalous family alone; 0.25–1
	// lowered AC@1 on 2022-08-22 from .833 to .71–.79).
	Corroboration float64
	// CauseZ is the score a resource metric needs to be named a pod's
	// metric-level cause ahead of its symptoms (3).
	CauseZ float64
	// Lookback is how far before the inject time the baseline may be
	// gathered when other faults' windows leave less than Baseline of
	// clean data in the last Baseline (2h).
	Lookback time.Duration
	// MinBaseline is the number of clean baseline samples below which
	// samples after the fault's span are added (10; data files may start
	// a few minutes before their first fault).
	MinBaseline int
	// NoTrafficLoss counts drops of load metrics (workload, syscalls,
	// network bytes, CPU) as evidence about the service itself; by
	// default a drop is a symptom of its callers and, with a call graph
	// from dependency.csv, evidence for them (traffic_loss).
	NoTrafficLoss bool
	// LossZ is the drop a service's load must show to count as traffic
	// loss (3); LossWeight scales the callers' traffic_loss evidence (1).
	LossZ      float64
	LossWeight float64
	// FaultSpan is how long after its inject time another fault is left
	// out of a baseline (7m; Nezha faults are 8–9 minutes apart and their
	// effects last up to about 7 minutes).
	FaultSpan time.Duration
	// NoErrorPath keeps the entry service's success-rate drop as its own
	// evidence; by default, with a directed call graph, the drop moves to
	// the deepest service on the entry's call paths that shows an anomaly
	// of its own (see errorPath).
	NoErrorPath bool
}

func (o *Options) defaults() error {
	if o.Baseline == 0 {
		o.Baseline = 30 * time.Minute
	}
	if o.Window == 0 {
		o.Window = 4 * time.Minute
	}
	if o.Persist == 0 {
		o.Persist = 2
	}
	if o.Graph == "" {
		o.Graph = GraphAuto
	}
	if o.LearnedMinCorr == 0 {
		o.LearnedMinCorr = 0.7
	}
	if o.TopK == 0 {
		o.TopK = 5
	}
	if o.NoiseQuantile == 0 {
		o.NoiseQuantile = 0.9
	}
	if o.FrontWeight == 0 {
		o.FrontWeight = 0.5
	}
	if o.CauseZ == 0 {
		o.CauseZ = 3
	}
	if o.FaultSpan == 0 {
		o.FaultSpan = 7 * time.Minute
	}
	if o.CallWeight == 0 {
		o.CallWeight = 1
	}
	if o.Lookback == 0 {
		o.Lookback = 2 * time.Hour
	}
	if o.MinBaseline == 0 {
		o.MinBaseline = 10
	}
	if o.LossZ == 0 {
		o.LossZ = 3
	}
	if o.LossWeight == 0 {
		o.LossWeight = 1
	}
	switch {
	case o.Baseline < 0 || o.Window <= 0 || o.Persist < 1 || o.TopK < 1 || o.Lookback < o.Baseline:
		return errors.New("nezha: options: Baseline, Window, Persist and TopK must be positive")
	case o.Graph != GraphAuto && o.Graph != GraphFile && o.Graph != GraphLearned && o.Graph != GraphNone:
		return fmt.Errorf("nezha: options: unknown graph mode %q", o.Graph)
	}
	return nil
}

// RankedService is one entry of a ranked list.
type RankedService struct {
	Service string  `json:"service"`
	Score   float64 `json:"score"`
	// Metric is the service's most anomalous metric family.
	Metric string  `json:"metric"`
	Z      float64 `json:"z"`
}

// FaultResult is the outcome for one injected fault.
type FaultResult struct {
	InjectTime    time.Time       `json:"inject_time"`
	InjectPod     string          `json:"inject_pod"`
	InjectService string          `json:"inject_service"`
	InjectType    string          `json:"inject_type"`
	Ranked        []RankedService `json:"ranked"`
	// Rank is the 1-based position of the injected service (0: not in top k).
	Rank int `json:"rank"`
	// TopMetric is the most anomalous metric family of the injected pod;
	// LabelMetric is root_cause.json's label for resource faults.
	TopMetric   string `json:"top_metric"`
	LabelMetric string `json:"label_metric,omitempty"`
	MetricHit   *bool  `json:"metric_hit,omitempty"`
}

// RCAReport is the evaluation of one day folder.
type RCAReport struct {
	Dir       string  `json:"dir"`
	Graph     string  `json:"graph"`
	Faults    int     `json:"faults"`
	AC1       float64 `json:"ac1"`
	AC3       float64 `json:"ac3"`
	AC5       float64 `json:"ac5"`
	Avg5      float64 `json:"avg5"`
	MetricAC1 float64 `json:"metric_ac1"`
	// MetricFaults is the number of resource faults behind MetricAC1.
	MetricFaults int           `json:"metric_faults"`
	PerFault     []FaultResult `json:"per_fault"`
}

// resourceFaults are the fault types root_cause.json labels with a metric.
var resourceFaults = map[string]bool{"cpu_contention": true, "cpu_consumed": true, "network_delay": true}

// EvalRCA ranks root-cause services for every fault of the day folder dir
// from pod metrics only and scores the rankings against the injected pods.
func EvalRCA(ctx context.Context, dir string, opts Options) (RCAReport, error) {
	if err := opts.defaults(); err != nil {
		return RCAReport{}, err
	}
	day, err := LoadDay(dir)
	if err != nil {
		return RCAReport{}, fmt.Errorf("load day %s: %w", dir, err)
	}
	return evalDay(ctx, dir, day, opts)
}

func evalDay(ctx context.Context, dir string, day *Day, opts Options) (RCAReport, error) {
	if len(day.Faults) == 0 {
		return RCAReport{}, fmt.Errorf("nezha: %s: no faults", dir)
	}
	rep := RCAReport{Dir: dir, Faults: len(day.Faults)}
	graph, mode, err := buildGraph(day, opts)
	if err != nil {
		return RCAReport{}, err
	}
	rep.Graph = mode
	// A directed call graph from dependency.csv tells whose callees lost
	// traffic; a learned graph is undirected.
	var callers map[string][]string
	if mode == GraphFile && !opts.NoTrafficLoss {
		callers = map[string][]string{}
		for _, e := range graph.Edges() {
			callers[e.To] = append(callers[e.To], e.From)
		}
	}
	var hits [6]int
	for fi, f := range day.Faults {
		if err := ctx.Err(); err != nil {
			return RCAReport{}, fmt.Errorf("evaluate %s: %w", dir, err)
		}
		ev, svcTop, podTop := evidenceAt(day, fi, opts, callers)
		causes, err := explain.Rank(graph, ev, opts.Rank)
		if err != nil {
			return RCAReport{}, fmt.Errorf("rank fault at %s: %w", f.Time, err)
		}
		fr := FaultResult{InjectTime: f.Time, InjectPod: f.Pod, InjectService: ServiceOf(f.Pod), InjectType: f.Type}
		for i, c := range causes {
			if i >= opts.TopK {
				break
			}
			top := svcTop[c.Entity]
			fr.Ranked = append(fr.Ranked, RankedService{Service: c.Entity, Score: c.Score, Metric: top.family, Z: top.z})
			if c.Entity == fr.InjectService && fr.Rank == 0 {
				fr.Rank = i + 1
			}
		}
		for k := 1; k <= 5; k++ {
			if fr.Rank > 0 && fr.Rank <= k {
				hits[k]++
			}
		}
		fr.TopMetric = podTop[f.Pod].family
		if resourceFaults[f.Type] {
			if lbl := day.RootCause[fr.InjectService][f.Type]; lbl != "" {
				fr.LabelMetric = lbl
				hit := metricMatches(fr.TopMetric, lbl)
				fr.MetricHit = &hit
				rep.MetricFaults++
				if hit {
					rep.MetricAC1++
				}
			}
		}
		rep.PerFault = append(rep.PerFault, fr)
	}
	n := float64(len(day.Faults))
	rep.AC1, rep.AC3, rep.AC5 = float64(hits[1])/n, float64(hits[3])/n, float64(hits[5])/n
	for k := 1; k <= 5; k++ {
		rep.Avg5 += float64(hits[k]) / n / 5
	}
	if rep.MetricFaults > 0 {
		rep.MetricAC1 /= float64(rep.MetricFaults)
	}
	return rep, nil
}

// buildGraph returns the service graph for the options' mode (nil for none).
func buildGraph(day *Day, opts Options) (*explain.Graph, string, error) {
	mode := opts.Graph
	if mode == GraphAuto {
		mode = GraphNone
		if len(day.Edges) > 0 {
			mode = GraphFile
		}
	}
	services := map[string]bool{}
	for pod := range day.Pods {
		services[ServiceOf(pod)] = true
	}
	switch mode {
	case GraphFile:
		if len(day.Edges) == 0 {
			return nil, "", errors.New("nezha: graph mode file but no metric/dependency.csv")
		}
		g := explain.NewGraph()
		for s := range services {
			g.AddNode(s)
		}
		for _, e := range day.Edges {
			// Keep service→service edges; the file also lists
			// service→node-IP edges.
			if net.ParseIP(e.Target) != nil || net.ParseIP(e.Source) != nil || e.Source == e.Target {
				continue
			}
			if !services[e.Source] || !services[e.Target] {
				continue
			}
			if err := g.AddEdge(e.Source, e.Target, e.Weight); err != nil {
				return nil, "", err
			}
		}
		return g, mode, nil
	case GraphLearned:
		g, err := explain.LearnGraph(serviceLatencySeries(day), opts.LearnedMinCorr)
		if err != nil {
			return nil, "", err
		}
		return g, mode, nil
	}
	return nil, mode, nil
}

// serviceLatencySeries returns each service's server P90 latency aligned
// to minutes (the first pod of the service), for learning a graph.
func serviceLatencySeries(day *Day) map[string][]float64 {
	var t0, t1 int64 = math.MaxInt64, math.MinInt64
	for _, s := range day.Pods {
		t0 = min(t0, s.Times[0])
		t1 = max(t1, s.Times[len(s.Times)-1])
	}
	n := int((t1-t0)/60) + 1
	out := map[string][]float64{}
	pods := make([]string, 0, len(day.Pods))
	for p := range day.Pods {
		pods = append(pods, p)
	}
	sort.Strings(pods)
	for _, p := range pods {
		svc := ServiceOf(p)
		if _, ok := out[svc]; ok {
			continue
		}
		s := day.Pods[p]
		c := colIndex(s, "PodServerLatencyP90(s)")
		if c < 0 {
			continue
		}
		v := make([]float64, n)
		for i := range v {
			v[i] = math.NaN()
		}
		for i, t := range s.Times {
			v[(t-t0)/60] = s.Values[c][i]
		}
		out[svc] = v
	}
	return out
}

func colIndex(s *Series, name string) int {
	for i, c := range s.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// family maps a metric column to the metric it measures: columns that are
// the same quantity in other units (CpuUsage(m) and CpuUsageRate(%)) or
// quantiles of one latency collapse into one family. ok is false for
// columns that are not evidence about the pod itself (node metrics).
func family(col string) (string, bool) {
	switch {
	case strings.HasPrefix(col, "Node"):
		return "", false
	case strings.HasPrefix(col, "CpuUsage"):
		return "cpu", true
	case strings.HasPrefix(col, "MemoryUsage"):
		return "memory", true
	case strings.HasPrefix(col, "PodClientLatency"):
		return "client_latency", true
	case strings.HasPrefix(col, "PodServerLatency"):
		return "server_latency", true
	case strings.HasPrefix(col, "Syscall"):
		return "syscall", true
	case strings.HasPrefix(col, "Network"):
		return "network_bytes", true
	case strings.HasPrefix(col, "PodWorkload"):
		return "workload", true
	case strings.HasPrefix(col, "PodSuccessRate"):
		return "success_rate", true
	}
	return col, true
}

// metricMatches tells whether a metric family matches a root_cause.json
// label: CpuUsageRate(%) is the cpu family, NetworkP90(ms) the pod's P90
// latency (client or server side).
func metricMatches(fam, label string) bool {
	switch {
	case strings.HasPrefix(label, "Cpu"):
		return fam == "cpu"
	case strings.HasPrefix(label, "Network") && strings.Contains(label, "P9"):
		return fam == "client_latency" || fam == "server_latency"
	case strings.HasPrefix(label, "Memory"):
		return fam == "memory"
	}
	return false
}

type famScore struct {
	family string
	z      float64
}

// lossFamilies are the load metrics whose drop at a service is a symptom
// of its callers (they stopped sending requests), not of the service: a
// fault that makes a caller return early, fail or slow down shows as
// falling workload, syscalls, network bytes and CPU at its callees. Rises
// of these metrics stay evidence about the service itself.
var lossFamilies = map[string]bool{"workload": true, "syscall": true, "network_bytes": true, "cpu": true}

// evidenceAt scores every pod and service at fault fi (see the package
// documentation). The evidence of a service is log(1+z) of its largest
// family score. callers maps a service to its callers (nil without a
// directed call graph): a service's traffic loss is evidence for them.
func evidenceAt(day *Day, fi int, o Options, callers map[string][]string) (ev map[string]float64, svcTop, podTop map[string]famScore) {
	sc := newScorer(day, fi, o)
	ev = map[string]float64{}
	svcTop = map[string]famScore{}
	podTop = map[string]famScore{}
	// fams[svc][family] is the service's largest score per family.
	fams := map[string]map[string]float64{}
	raise := func(m map[string]famScore, k string, fs famScore) {
		if cur, ok := m[k]; !ok || fs.z > cur.z {
			m[k] = fs
		}
		if fams[k] == nil {
			fams[k] = map[string]float64{}
		}
		if fs.family != "" {
			fams[k][fs.family] = math.Max(fams[k][fs.family], fs.z)
		}
	}
	// loss[svc] is the service's largest drop of a load metric.
	loss := map[string]float64{}
	// rise[svc][family] is the service's largest rise per family (for
	// the error path).
	rise := map[string]map[string]float64{}
	for pod, s := range day.Pods {
		svc := ServiceOf(pod)
		best := famScore{}
		var cause, anyTop famScore
		var causeRel float64
		for c, col := range s.Columns {
			fam, ok := family(col)
			if !ok {
				continue
			}
			cs := sc.score(s.Times, s.Values[c])
			z := math.Max(cs.up, cs.down)
			if rise[svc] == nil {
				rise[svc] = map[string]float64{}
			}
			rise[svc][fam] = math.Max(rise[svc][fam], cs.up)
			if z > anyTop.z || anyTop.family == "" {
				anyTop = famScore{fam, z}
			}
			if resourceFamily[fam] && z >= o.CauseZ {
				if cs.rel > causeRel {
					cause, causeRel = famScore{fam, z}, cs.rel
				}
			}
			if !o.ClientLatency && fam == "client_latency" {
				continue
			}
			own := z
			if !o.NoTrafficLoss && lossFamilies[fam] {
				own = cs.up
				loss[svc] = math.Max(loss[svc], cs.down)
			}
			if own > best.z || best.family == "" {
				best = famScore{fam, own}
			}
			if fams[svc] == nil {
				fams[svc] = map[string]float64{}
			}
			fams[svc][fam] = math.Max(fams[svc][fam], own)
		}
		// Metric-level cause inside the pod (USE before RED): the
		// saturated resource with the largest relative change among the
		// anomalous ones, else the most anomalous metric of any kind.
		if cause.family == "" {
			cause = anyTop
		}
		podTop[pod] = cause
		best.family = cause.family
		raise(svcTop, svc, best)
	}
	// entry is the service front_service.csv describes, errs its
	// success-rate drop (weighted).
	var entry string
	var errs float64
	if f := day.Front; f != nil && !o.NoFront {
		if _, known := svcTop[f.Pod]; known {
			entry = f.Pod
			for c, col := range f.Columns {
				fam := "front_latency"
				cs := sc.score(f.Times, f.Values[c])
				if strings.HasPrefix(col, "SuccessRate") {
					fam = "front_success_rate"
					errs = math.Max(errs, o.FrontWeight*cs.down)
				}
				raise(svcTop, f.Pod, famScore{fam, o.FrontWeight * cs.max()})
			}
		}
	}
	// explained[svc] is the largest slowdown of a call from svc to one of
	// its callees, measured at the callee (destination side, else source
	// side): latency of svc that a slower callee accounts for.
	explained := map[string]float64{}
	if !o.NoCallLatency {
		explainer := ""
		for _, s := range day.Calls {
			if explainer == "" || strings.HasPrefix(s.Pod, "destination") {
				explainer = s.Pod
			}
		}
		for _, s := range day.Calls {
			for c, col := range s.Columns {
				caller, callee, ok := strings.Cut(col, "_")
				if !ok {
					continue
				}
				if _, known := svcTop[callee]; !known {
					continue
				}
				cs := sc.score(s.Times, s.Values[c])
				raise(svcTop, callee, famScore{"call_latency", o.CallWeight * cs.max()})
				if s.Pod == explainer {
					explained[caller] = math.Max(explained[caller], o.CallWeight*cs.up)
				}
			}
		}
	}
	if !o.NoExplain {
		// Blame the callee: the latency of a service that one of its
		// calls' slowdown accounts for is not evidence about it.
		for svc, e := range explained {
			for _, fam := range []string{"server_latency", "front_latency"} {
				if z, ok := fams[svc][fam]; ok {
					fams[svc][fam] = math.Max(0, z-e)
				}
			}
		}
	}
	// Traffic loss: a service whose load dropped by at least LossZ points
	// at its callers, unless a caller lost traffic itself (then it is a
	// victim too and its own loss points further up).
	for svc, d := range loss {
		if d < o.LossZ {
			continue
		}
		for _, c := range callers[svc] {
			if _, known := svcTop[c]; !known || loss[c] >= o.LossZ {
				continue
			}
			raise(svcTop, c, famScore{"traffic_loss", o.LossWeight * d})
		}
	}
	if !o.NoErrorPath && entry != "" && errs > 0 && callers != nil {
		if to := errorPath(entry, callers, rise, loss, o); to != "" {
			// The entry's failed requests are explained by a
			// service on their path: the drop is its evidence.
			fams[entry]["front_success_rate"] = 0
			if svcTop[entry].family == "front_success_rate" {
				best := famScore{}
				for fam, z := range fams[entry] {
					if z > best.z || best.family == "" || (z == best.z && fam < best.family) {
						best = famScore{fam, z}
					}
				}
				svcTop[entry] = best
			}
			raise(svcTop, to, famScore{"error_path", errs})
		}
	}
	for svc := range svcTop {
		// Evidence: the largest family score plus Corroboration times
		// the second largest (another kind of metric agreeing).
		var z1, z2 float64
		for _, z := range fams[svc] {
			switch {
			case z > z1:
				z1, z2 = z, z1
			case z > z2:
				z2 = z
			}
		}
		if o.RawEvidence {
			ev[svc] = z1 + o.Corroboration*z2
		} else {
			ev[svc] = math.Log1p(z1) + o.Corroboration*math.Log1p(z2)
		}
	}
	return ev, svcTop, podTop
}

// errorPath returns the service that the entry service's failed requests
// are blamed on, or "" to keep them the entry's own: the deepest service
// (longest call path from the entry in the directed call graph; callers
// maps a callee to its callers) that shows an anomaly of its own — a rise
// of a resource metric (CPU, memory, syscalls, network bytes) or, when its
// load did not drop, of its server-side latency, by at least CauseZ — the
// larger anomaly at equal depth. A callee that answers with errors fails
// its callers' requests, which return early, so its callers' and its
// callees' load drops: load drops are no anomaly of a service's own. A
// latency quantile of a service whose load dropped is estimated from few
// requests, so its rise does not count either.
func errorPath(entry string, callers map[string][]string, rise map[string]map[string]float64, loss map[string]float64, o Options) string {
	callees := map[string][]string{}
	for callee, cs := range callers {
		for _, c := range cs {
			callees[c] = append(callees[c], callee)
		}
	}
	for _, cs := range callees {
		sort.Strings(cs)
	}
	// depth is the longest call path from the entry (cycles cut).
	depth := map[string]int{}
	onPath := map[string]bool{}
	var visit func(s string, d int)
	visit = func(s string, d int) {
		if onPath[s] || d <= depth[s] && d > 0 {
			return
		}
		depth[s] = d
		onPath[s] = true
		for _, c := range callees[s] {
			visit(c, d+1)
		}
		onPath[s] = false
	}
	visit(entry, 0)
	best, bestD, bestZ := "", 0, 0.0
	for svc, d := range depth {
		if d == 0 {
			continue
		}
		var z float64
		for fam := range resourceFamily {
			z = math.Max(z, rise[svc][fam])
		}
		if loss[svc] < o.LossZ {
			z = math.Max(z, rise[svc]["server_latency"])
		}
		if z < o.CauseZ {
			continue
		}
		if d > bestD || d == bestD && (z > bestZ || z == bestZ && svc < best) {
			best, bestD, bestZ = svc, d, z
		}
	}
	return best
}

// resourceFamily marks the metric families that measure resource use (the
// USE method's utilisation), preferred as a pod's metric-level cause over
// symptoms (latency, workload, success rate).
var resourceFamily = map[string]bool{"cpu": true, "memory": true, "network_bytes": true, "syscall": true}
