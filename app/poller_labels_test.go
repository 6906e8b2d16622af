package app

import (
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// TestPollerLabelsFailures: a daemon fed only by a Prometheus poller polls
// the failure labels' expressions too, as "omen train --source
// prometheus" evaluates them: a label whose expression is true (here
// 1 for shop/p at every step) is set in the stored vectors. The poller
// polled the features alone, so no vector was ever labelled (a reviewer:
// 0 of 568, against 74 of 576 fed by remote-write).
func TestPollerLabelsFailures(t *testing.T) {
	fp := &slowProm{}
	prom := httptest.NewServer(fp)
	t.Cleanup(prom.Close)
	cfg := loadConfig(t, testConfigYAML+"  - name: pod_down\n    expr: max by (${entity}) (pod_failing)\n"+
		"prometheus:\n  - url: "+prom.URL+"\n")
	if got := cfg.Resolved().LabelNames(); len(got) != 2 || got[1] != "pod_down" {
		t.Fatalf("labels %q, want [crashloop pod_down]", got)
	}
	a := startApp(t, t.TempDir(), func(o *Options) { o.Config = cfg })
	var vs []store.Vector
	waitFor(t, "a vector of shop/p stored", 20*time.Second, func() bool {
		vs = vs[:0]
		if err := a.store.Vectors("shop/p", math.MinInt64, math.MaxInt64, func(v store.Vector) error {
			vs = append(vs, v)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return len(vs) > 0
	})
	for _, v := range vs {
		if len(v.Failure) != 2 || v.Failure[0] || !v.Failure[1] {
			t.Fatalf("vector of shop/p at %v has failure labels %v, want [false true] (pod_down polled true)", time.UnixMilli(v.T).UTC(), v.Failure)
		}
	}
}
