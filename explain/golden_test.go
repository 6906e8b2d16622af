package explain

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestAttributionGolden pins the JSON form of an explanation and its root
// causes, as stored with a prediction.
func TestAttributionGolden(t *testing.T) {
	const w, f = 4, 3
	names := []string{"cpu", "restarts", "latency"}
	groups, err := GroupsByMetric(w, f, names)
	if err != nil {
		t.Fatal(err)
	}
	// f = σ-free score: restarts dominate, cpu interacts with latency.
	p := fnPredictor(w*f, func(x []float32) float64 {
		var cpu, rs, lat float64
		for t := 0; t < w; t++ {
			cpu += float64(x[t*f])
			rs += float64(x[t*f+1])
			lat += float64(x[t*f+2])
		}
		return 0.5*rs + 0.125*cpu*lat
	})
	x := make([]float32, w*f)
	for t := 0; t < w; t++ {
		x[t*f], x[t*f+1], x[t*f+2] = 2, 1, 1
	}
	bg := [][]float32{make([]float32, w*f), make([]float32, w*f)}
	for i := range bg[1] {
		bg[1][i] = 0.5
	}
	a, err := Exact{}.Explain(context.Background(), p, x, bg, groups)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraph()
	if err := g.AddEdge("frontend", "cart", 1); err != nil {
		t.Fatal(err)
	}
	rc, err := Causes(a, g, map[string]float64{"frontend": 2, "cart": 3}, 2, RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(struct {
		Attribution Attribution `json:"attribution"`
		RootCause   RootCause   `json:"root_cause"`
	}{a, rc}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "explanation.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test ./explain -run Golden -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("explanation JSON differs from %s:\n%s", path, got)
	}
}
