package sim

import (
	"context"
	"testing"
	"time"

	"github.com/omen-sre/omen/features"
)

// pipeline feeds ticks into a features Head and Extractor configured with
// FeatureConfig.
type pipeline struct {
	t    testing.TB
	head *features.Head
	ext  *features.Extractor
	cfg  features.Config
}

func newPipeline(t testing.TB) *pipeline {
	t.Helper()
	cfg := FeatureConfig()
	h, err := features.NewHead(features.HeadOptions{Lookback: time.Duration(cfg.Lookback)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	e, err := features.NewExtractor(features.ExtractorOptions{Config: cfg, Head: h})
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline{t: t, head: h, ext: e, cfg: cfg}
}

func (p *pipeline) add(tk Tick) {
	p.t.Helper()
	if _, err := p.head.Append(tk.Samples); err != nil {
		p.t.Fatal(err)
	}
	p.ext.AddEvents(tk.Events)
}

// eval returns the vectors at t by entity.
func (p *pipeline) eval(at time.Time) map[string]features.Vector {
	p.t.Helper()
	vs, err := p.ext.Evaluate(context.Background(), at)
	if err != nil {
		p.t.Fatal(err)
	}
	out := map[string]features.Vector{}
	for _, v := range vs {
		out[v.Entity] = v
	}
	return out
}

func indexOf(names []string, n string) int {
	for i, x := range names {
		if x == n {
			return i
		}
	}
	return -1
}

func newFleet(t testing.TB, opts Options) *Fleet {
	t.Helper()
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
