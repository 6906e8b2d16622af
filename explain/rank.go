package explain

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Graph is a weighted directed dependency graph; an edge points from caller
// to callee. The zero value is not usable; call [NewGraph]. A Graph must not
// be modified while it is being ranked.
type Graph struct {
	index map[string]int
	names []string
	out   []map[int]float64
}

// Edge is a weighted call edge.
type Edge struct {
	From   string  `json:"from"`
	To     string  `json:"to"`
	Weight float64 `json:"weight"`
}

// NewGraph returns an empty graph.
func NewGraph() *Graph { return &Graph{index: map[string]int{}} }

// AddNode adds an entity without edges (no-op if present) and returns its index.
func (g *Graph) AddNode(name string) int {
	if i, ok := g.index[name]; ok {
		return i
	}
	i := len(g.names)
	g.index[name] = i
	g.names = append(g.names, name)
	g.out = append(g.out, map[int]float64{})
	return i
}

// AddEdge adds weight to the edge from caller to callee (creating the
// nodes). Self-loops and non-positive weights are rejected.
func (g *Graph) AddEdge(from, to string, weight float64) error {
	if from == to {
		return fmt.Errorf("explain: self-loop on %q", from)
	}
	if !(weight > 0) || math.IsInf(weight, 0) {
		return fmt.Errorf("explain: edge %s→%s: weight %v must be positive and finite", from, to, weight)
	}
	i, j := g.AddNode(from), g.AddNode(to)
	g.out[i][j] += weight
	return nil
}

// Nodes returns the entity names in insertion order.
func (g *Graph) Nodes() []string { return append([]string(nil), g.names...) }

// Edges returns all edges sorted by caller then callee.
func (g *Graph) Edges() []Edge {
	var es []Edge
	for i, m := range g.out {
		for j, w := range m {
			es = append(es, Edge{From: g.names[i], To: g.names[j], Weight: w})
		}
	}
	sort.Slice(es, func(a, b int) bool {
		if es[a].From != es[b].From {
			return es[a].From < es[b].From
		}
		return es[a].To < es[b].To
	})
	return es
}

// NumEdges returns the number of edges.
func (g *Graph) NumEdges() int {
	n := 0
	for _, m := range g.out {
		n += len(m)
	}
	return n
}

// RankOptions tunes [Rank]. Zero fields take the defaults noted.
type RankOptions struct {
	// Damping is the probability of following an edge rather than
	// restarting at the personalisation (0.85).
	Damping float64
	// BackwardWeight ρ scales walks from a callee back to its callers (0.1).
	BackwardWeight float64
	// EvidencePower is the exponent of an entity's own evidence in its
	// final score (1). 0 ranks by the stationary probability alone.
	EvidencePower float64
	// Iterations caps the power iteration (100); it stops earlier when the
	// L1 change is below 1e-10.
	Iterations int
	// Start, when set, is the alerting entity whose root causes are
	// ranked: only Start and the entities it depends on (those reachable
	// from it over caller→callee edges, transitively) are ranked, over the
	// graph they induce, and the walk starts and restarts at Start instead
	// of at entities drawn by evidence (MonitorRank's walk from the
	// alerting frontend): a dependency's share of the walk decays by
	// Damping per call hop away from Start, and entities Start does not
	// depend on are no causes of its alert (as everywhere in the walk, a
	// dependency is reached through callees with evidence). Without a
	// graph, or when Start is not in it, Start is ranked alone.
	Start string
}

func (o *RankOptions) defaults() error {
	if o.Damping == 0 {
		o.Damping = 0.85
	}
	if o.BackwardWeight == 0 {
		o.BackwardWeight = 0.1
	}
	if o.EvidencePower == 0 {
		o.EvidencePower = 1
	}
	if o.Iterations == 0 {
		o.Iterations = 100
	}
	if o.Damping < 0 || o.Damping >= 1 || o.BackwardWeight < 0 || o.EvidencePower < 0 || o.Iterations < 0 {
		return errors.New("explain: rank options: want 0 ≤ Damping < 1 and non-negative BackwardWeight, EvidencePower, Iterations")
	}
	return nil
}

// Cause is one ranked entity.
type Cause struct {
	Entity string `json:"entity"`
	// Score orders the causes; scores sum to 1 over the ranked entities
	// (when any evidence is positive).
	Score float64 `json:"score"`
	// Evidence is the entity's own anomaly evidence as given.
	Evidence float64 `json:"evidence"`
}

// Rank orders entities by root-cause likelihood from their anomaly
// evidence (non-negative; NaN counts as 0) and an optional dependency graph
// (see the package documentation for the method). Entities in evidence but
// not in the graph, or all entities when g is nil or has no edges, are
// scored by evidence alone. Ties are broken by name.
func Rank(g *Graph, evidence map[string]float64, opts RankOptions) ([]Cause, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	for e, v := range evidence {
		if v < 0 || math.IsInf(v, 0) {
			return nil, fmt.Errorf("explain: evidence of %q is %v, want finite and ≥ 0", e, v)
		}
	}
	if opts.Start != "" {
		g, evidence = dependenciesOf(g, evidence, opts.Start)
	}
	// Nodes: graph nodes plus evidence-only entities.
	var names []string
	idx := map[string]int{}
	if g != nil {
		for _, n := range g.names {
			idx[n] = len(names)
			names = append(names, n)
		}
	}
	extra := make([]string, 0)
	for e := range evidence {
		if _, ok := idx[e]; !ok {
			extra = append(extra, e)
		}
	}
	sort.Strings(extra)
	for _, e := range extra {
		idx[e] = len(names)
		names = append(names, e)
	}
	n := len(names)
	a := make([]float64, n)
	var amax float64
	for i, nm := range names {
		v := evidence[nm]
		if math.IsNaN(v) {
			v = 0
		}
		a[i] = v
		amax = math.Max(amax, v)
	}
	if amax > 0 {
		for i := range a {
			a[i] /= amax
		}
	}
	score := make([]float64, n)
	if g != nil && g.NumEdges() > 0 && amax > 0 {
		pers := make([]float64, n)
		if opts.Start != "" {
			pers[idx[opts.Start]] = 1
		} else {
			var ps float64
			for _, v := range a {
				ps += v
			}
			for i, v := range a {
				pers[i] = v / ps
			}
		}
		pi := walk(g, a, pers, opts)
		for i := range score {
			score[i] = pi[i] * math.Pow(a[i], opts.EvidencePower)
		}
	} else {
		copy(score, a)
	}
	var tot float64
	for _, s := range score {
		tot += s
	}
	causes := make([]Cause, n)
	for i, nm := range names {
		c := Cause{Entity: nm, Evidence: evidence[nm]}
		if math.IsNaN(c.Evidence) {
			c.Evidence = 0
		}
		if tot > 0 {
			c.Score = score[i] / tot
		}
		causes[i] = c
	}
	sort.SliceStable(causes, func(i, j int) bool {
		if causes[i].Score != causes[j].Score {
			return causes[i].Score > causes[j].Score
		}
		return causes[i].Entity < causes[j].Entity
	})
	return causes, nil
}

// dependenciesOf is the part of g and evidence that ranking the root
// causes of start's alert sees: start and the entities reachable from it
// over caller→callee edges, the edges among them and their evidence
// (start's 0 when it has none).
func dependenciesOf(g *Graph, evidence map[string]float64, start string) (*Graph, map[string]float64) {
	ev := map[string]float64{start: evidence[start]}
	si, ok := 0, false
	if g != nil {
		si, ok = g.index[start]
	}
	if !ok {
		return nil, ev
	}
	// Breadth-first over the callees, each node's callees in index order.
	order := []int{si}
	seen := map[int]bool{si: true}
	for k := 0; k < len(order); k++ {
		next := make([]int, 0, len(g.out[order[k]]))
		for j := range g.out[order[k]] {
			if !seen[j] {
				seen[j] = true
				next = append(next, j)
			}
		}
		sort.Ints(next)
		order = append(order, next...)
	}
	sub := NewGraph()
	for _, i := range order {
		sub.AddNode(g.names[i])
		if v, ok := evidence[g.names[i]]; ok {
			ev[g.names[i]] = v
		}
	}
	for _, i := range order {
		for j, w := range g.out[i] {
			sub.out[sub.index[g.names[i]]][sub.index[g.names[j]]] = w // j is reachable too
		}
	}
	return sub, ev
}

// walk returns the stationary distribution of the random walk over g's
// nodes (the first len(g.names) entries of a) that restarts at pers (a
// distribution over all entries); entities outside the graph keep
// probability 0 from the walk unless pers restarts there.
func walk(g *Graph, a, pers []float64, o RankOptions) []float64 {
	n := len(a)
	ng := len(g.names)
	type arc struct {
		to int
		w  float64
	}
	adj := make([][]arc, n)
	in := make([]map[int]float64, ng)
	for i := range in {
		in[i] = map[int]float64{}
	}
	for i, m := range g.out {
		for j, w := range m {
			in[j][i] += w
		}
	}
	for i := 0; i < ng; i++ {
		var nbMax float64
		for j, w := range g.out[i] {
			adj[i] = append(adj[i], arc{j, w * a[j]})
			nbMax = math.Max(nbMax, a[j])
		}
		for k, w := range in[i] {
			adj[i] = append(adj[i], arc{k, o.BackwardWeight * w * a[k]})
			nbMax = math.Max(nbMax, a[k])
		}
		if self := a[i] - nbMax; self > 0 {
			adj[i] = append(adj[i], arc{i, self})
		}
		var s float64
		for _, e := range adj[i] {
			s += e.w
		}
		if s > 0 {
			for k := range adj[i] {
				adj[i][k].w /= s
			}
		} else {
			adj[i] = nil
		}
	}
	pi := append([]float64(nil), pers...)
	next := make([]float64, n)
	for it := 0; it < o.Iterations; it++ {
		var dangling float64
		for i := range next {
			next[i] = 0
		}
		for i, p := range pi {
			if adj[i] == nil {
				dangling += p
				continue
			}
			for _, e := range adj[i] {
				next[e.to] += o.Damping * p * e.w
			}
		}
		var diff float64
		for i := range next {
			next[i] += (1 - o.Damping + o.Damping*dangling) * pers[i]
			diff += math.Abs(next[i] - pi[i])
		}
		pi, next = next, pi
		if diff < 1e-10 {
			break
		}
	}
	return pi
}

// LearnGraph builds an undirected dependency graph (edges both ways) from
// metric series, one per entity: entities whose series have an absolute
// Pearson correlation of at least minCorr are linked with that weight.
// Series of unequal length are compared over their common prefix; constant
// series get no edges.
func LearnGraph(series map[string][]float64, minCorr float64) (*Graph, error) {
	if minCorr <= 0 || minCorr > 1 {
		return nil, fmt.Errorf("explain: minCorr %v not in (0, 1]", minCorr)
	}
	names := make([]string, 0, len(series))
	for n := range series {
		names = append(names, n)
	}
	sort.Strings(names)
	g := NewGraph()
	for _, n := range names {
		g.AddNode(n)
	}
	for i := 0; i < len(names); i++ {
		for j := i + 1; j < len(names); j++ {
			c := math.Abs(pearson(series[names[i]], series[names[j]]))
			if c >= minCorr {
				if err := g.AddEdge(names[i], names[j], c); err != nil {
					return nil, err
				}
				if err := g.AddEdge(names[j], names[i], c); err != nil {
					return nil, err
				}
			}
		}
	}
	return g, nil
}

func pearson(a, b []float64) float64 {
	n := min(len(a), len(b))
	var ma, mb float64
	k := 0
	for i := 0; i < n; i++ {
		if math.IsNaN(a[i]) || math.IsNaN(b[i]) {
			continue
		}
		ma += a[i]
		mb += b[i]
		k++
	}
	if k < 3 {
		return 0
	}
	ma /= float64(k)
	mb /= float64(k)
	var sab, saa, sbb float64
	for i := 0; i < n; i++ {
		if math.IsNaN(a[i]) || math.IsNaN(b[i]) {
			continue
		}
		da, db := a[i]-ma, b[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

// MinCauseShare is the least part of the positive attribution (Σ of the
// φ > 0) a metric group needs to be a cause: smaller ones (a rounding
// "+0.0000, 0.0 %") say nothing. alert.MinCauseShare is this value.
const MinCauseShare = 0.02

// RootCause is the top-k explanation of an alert at two levels.
type RootCause struct {
	// Metrics are the metric and event groups that raise the prediction
	// (φ > 0, at least MinCauseShare of the positive attribution), largest
	// φ first: a group with φ < 0 lowers the failure probability and is
	// no cause, however large its |φ|. Never nil.
	Metrics []GroupAttribution `json:"metrics"`
	// Entities are the most likely root-cause entities (score > 0). Never
	// nil.
	Entities []Cause `json:"entities"`
}

// Causes returns the top-k metric groups of attr that raise the prediction
// (φ > 0 and at least [MinCauseShare] of Σφ over the groups with φ > 0,
// largest φ first) and the top-k entities ranked by [Rank] with a score
// above 0 (with opts.Start, the alerting entity and its dependencies).
// Entity-kind groups of attr with positive φ (pushing the
// prediction up) add their attribution share to that entity's evidence, so
// an entity the model blames ranks higher even when its own anomaly score
// is modest.
func Causes(attr Attribution, g *Graph, evidence map[string]float64, k int, opts RankOptions) (RootCause, error) {
	ev := make(map[string]float64, len(evidence))
	var emax float64
	for e, v := range evidence {
		ev[e] = v
		emax = math.Max(emax, v)
	}
	if emax == 0 {
		emax = 1
	}
	for _, ga := range attr.Groups {
		if ga.Kind == KindEntity && ga.Phi > 0 {
			ev[ga.Name] += ga.Share * emax
		}
	}
	ranked, err := Rank(g, ev, opts)
	if err != nil {
		return RootCause{}, err
	}
	ents := make([]Cause, 0, len(ranked))
	for _, c := range ranked {
		if c.Score > 0 {
			ents = append(ents, c)
		}
	}
	if k > 0 && k < len(ents) {
		ents = ents[:k]
	}
	var pos float64
	for _, ga := range attr.Groups {
		if ga.Kind != KindEntity && ga.Phi > 0 {
			pos += ga.Phi
		}
	}
	metrics := make([]GroupAttribution, 0)
	for _, ga := range attr.Groups {
		if ga.Kind != KindEntity && ga.Phi > 0 && ga.Phi >= MinCauseShare*pos {
			metrics = append(metrics, ga)
		}
	}
	sort.SliceStable(metrics, func(i, j int) bool { return metrics[i].Phi > metrics[j].Phi })
	if k > 0 && k < len(metrics) {
		metrics = metrics[:k]
	}
	return RootCause{Metrics: metrics, Entities: ents}, nil
}
