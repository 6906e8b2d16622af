package explain

import (
	"errors"
	"math"

	"github.com/omen-sre/omen/telemetry"
)

// Default label names of Istio's request metrics.
const (
	IstioSourceLabel      = "source_workload"
	IstioDestinationLabel = "destination_workload"
)

// GraphFromCallSamples builds a call graph from samples of a call metric,
// e.g. the result of
//
//	sum by (source_workload, destination_workload) (rate(istio_requests_total[5m]))
//
// Each sample adds its value to the edge from its sourceLabel to its
// targetLabel (empty labels default to Istio's). Samples without both
// labels, self-calls, and values that are not positive and finite (stale
// markers included) are skipped. g may be nil to start a new graph.
func GraphFromCallSamples(g *Graph, samples []telemetry.Sample, sourceLabel, targetLabel string) (*Graph, error) {
	if sourceLabel == "" {
		sourceLabel = IstioSourceLabel
	}
	if targetLabel == "" {
		targetLabel = IstioDestinationLabel
	}
	if sourceLabel == targetLabel {
		return nil, errors.New("explain: call graph: source and target label are the same")
	}
	if g == nil {
		g = NewGraph()
	}
	for _, s := range samples {
		from, to := s.Labels.Get(sourceLabel), s.Labels.Get(targetLabel)
		if from == "" || to == "" || from == to || !(s.V > 0) || math.IsInf(s.V, 0) {
			continue
		}
		if err := g.AddEdge(from, to, s.V); err != nil {
			return nil, err
		}
	}
	return g, nil
}
