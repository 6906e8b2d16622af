package app

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/store"
)

// TestPolledFailureLabelEnds: a daemon that polls a Prometheus stores a
// failure label as false from the first step after the failure ended, as
// a daemon fed by remote-write does. The label's query (`x > 0`) answers
// "result":[] once the failure has ended; before, the poller wrote
// nothing then, and the evaluator served the label's last polled value
// for the 5m lookback delta: the stored history labelled 5 more minutes
// of each failure as failing (the reviewer's crashloop_failure True until
// 23:05:35 for a crash ended at ~23:00:40).
func TestPolledFailureLabelEnds(t *testing.T) {
	var cut atomic.Int64 // pod a fails before it (0: for ever)
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		sec, _ := strconv.ParseFloat(r.Form.Get("time"), 64)
		tm := int64(math.Round(sec * 1000))
		point := func(pod string) string {
			return fmt.Sprintf(`{"metric":{"namespace":"shop","pod":%q},"value":[%d.%03d,"1"]}`, pod, tm/1000, tm%1000)
		}
		var result []string
		if strings.HasSuffix(r.URL.Path, "/query_range") {
			// No backfill or catch-up data: the steps before the
			// daemon's first poll have none.
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`))
			return
		}
		switch q := r.Form.Get("query"); {
		case strings.Contains(q, "kube_pod_status_ready"):
			result = []string{point("a"), point("b")}
		case strings.Contains(q, "crashloop"):
			if c := cut.Load(); c == 0 || tm < c {
				result = []string{point("a")}
			}
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, strings.Join(result, ","))
	}))
	t.Cleanup(prom.Close)

	cfg, err := config.Load("test.yml", []byte(`
entity_labels: [namespace, pod]
step: 1s
lookback: 6m
features:
  - name: ready
    expr: max by (${entity}) (kube_pod_status_ready)
labels:
  - name: crashloop_failure
    expr: max by (${entity}) (omen_test_crashloop) > 0
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Prometheus = []config.PollerConfig{{URL: prom.URL, Name: "main"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, t.TempDir(), func(o *Options) { o.Config, o.WallClock = cfg, true })
	vectors := func() []store.Vector {
		var vs []store.Vector
		if err := a.Store().Vectors("shop/a", math.MinInt64, math.MaxInt64, func(v store.Vector) error {
			vs = append(vs, v)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return vs
	}
	failing := func() (n int) {
		for _, v := range vectors() {
			if v.Failure[0] {
				n++
			}
		}
		return n
	}
	waitFor(t, "3 steps stored with the failure", 60*time.Second, func() bool { return failing() >= 3 })
	c := time.Now().UnixMilli()
	cut.Store(c)
	waitFor(t, "5 steps stored after the failure ended", 60*time.Second, func() bool {
		vs := vectors()
		return vs[len(vs)-1].T >= c+5000
	})
	// The first step whose poll came after the cut may have its label
	// query answered before it (the step's time is before the cut): the
	// label ends at the first step at or after the cut.
	for _, v := range vectors() {
		if v.T >= c+1000 && v.Failure[0] {
			t.Errorf("crashloop_failure set at %s, the failure ended at %s", time.UnixMilli(v.T).UTC().Format(time.RFC3339Nano), time.UnixMilli(c).UTC().Format(time.RFC3339Nano))
		}
		if v.T < c-1000 && !v.Failure[0] {
			t.Errorf("crashloop_failure not set at %s, before the failure ended at %s", time.UnixMilli(v.T).UTC().Format(time.RFC3339Nano), time.UnixMilli(c).UTC().Format(time.RFC3339Nano))
		}
	}
}
