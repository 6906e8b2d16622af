package explain

import (
	"math"
	"testing"
)

// TestRankCalleeAndCaller pins whom the ranking blames when a caller and
// its callee are both anomalous, with the alerting caller as Start (as
// omen's daemon ranks) and fleet-wide (as the Nezha evaluation does). A
// callee more anomalous than its caller ranks first: the walk from the
// caller follows the call to it and stays there. A callee less anomalous
// than its caller does not: the caller's excess anomaly is its own (the
// self-loop of max(0, a_i − max a_j) over callers and callees). Letting a
// callee hold the walk by its own evidence whatever its callers'
// (MonitorRank's self-loop, over callees only) ranks the callee first in
// the "caller more anomalous than an anomalous callee" row, and lost AC@1
// on the Nezha day 2022-08-22 (1.000 to 0.750 fleet-wide, 24 to 19 of 24
// faults ranked from the frontend): six of its faults are a caller's own
// whose callee shows 0.84 to 1.00 of the caller's evidence (frontend
// return: 3.18 and cartservice 2.79, that row's figures). A walk toward
// callers instead of callees fails the first two rows; evidence alone
// fails the row with an entity outside the graph.
func TestRankCalleeAndCaller(t *testing.T) {
	graph := func(edges ...Edge) *Graph {
		g := NewGraph()
		for _, e := range edges {
			if err := g.AddEdge(e.From, e.To, e.Weight); err != nil {
				t.Fatal(err)
			}
		}
		return g
	}
	pair := graph(Edge{"caller", "callee", 1})
	chain := graph(Edge{"caller", "middle", 1}, Edge{"middle", "callee", 1})
	noEdges := NewGraph()
	noEdges.AddNode("caller")
	noEdges.AddNode("callee")
	tests := []struct {
		name     string
		g        *Graph
		evidence map[string]float64
		starts   []string // "" ranks fleet-wide
		want     string   // the first cause
	}{
		{"callee more anomalous than its caller", pair,
			map[string]float64{"caller": 6, "callee": 6.5},
			[]string{"caller", ""}, "callee"},
		{"callee two calls down, through an anomalous middle", chain,
			map[string]float64{"caller": 5, "middle": 4, "callee": 6},
			[]string{"caller", ""}, "callee"},
		{"caller's own fault, healthy callee", pair,
			map[string]float64{"caller": 6, "callee": 0.5},
			[]string{"caller", ""}, "caller"},
		{"caller more anomalous than an anomalous callee", pair,
			map[string]float64{"caller": 3.18, "callee": 2.79},
			[]string{"caller", ""}, "caller"},
		{"callee tied with an entity outside the graph: its anomalous caller decides", pair,
			map[string]float64{"caller": 4, "callee": 6, "batch": 6},
			[]string{""}, "callee"},
		{"no graph: evidence alone, callee first", nil,
			map[string]float64{"caller": 6, "callee": 6.5},
			[]string{""}, "callee"},
		{"no graph: evidence alone, caller first", nil,
			map[string]float64{"caller": 6, "callee": 4},
			[]string{""}, "caller"},
		{"graph without edges: evidence alone", noEdges,
			map[string]float64{"caller": 4, "callee": 6},
			[]string{""}, "callee"},
	}
	for _, tc := range tests {
		for _, start := range tc.starts {
			name := tc.name + "/fleet-wide"
			if start != "" {
				name = tc.name + "/from " + start
			}
			t.Run(name, func(t *testing.T) {
				causes, err := Rank(tc.g, tc.evidence, RankOptions{Start: start})
				if err != nil {
					t.Fatal(err)
				}
				if causes[0].Entity != tc.want {
					t.Errorf("first cause %q, want %q (%+v)", causes[0].Entity, tc.want, causes)
				}
				var sum float64
				for _, c := range causes {
					sum += c.Score
				}
				if math.Abs(sum-1) > 1e-9 {
					t.Errorf("scores sum to %v", sum)
				}
			})
		}
	}
}
