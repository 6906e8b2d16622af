package stream

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/omen-sre/omen/telemetry"
)

// rangeProm answers range queries with one series at every step from
// start to end, value 1, except for the query "empty", which has no
// result, and instant queries with one sample at their time.
func rangeProm() *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sec := func(k string) float64 {
			v, _ := strconv.ParseFloat(r.Form.Get(k), 64)
			return v
		}
		w.Header().Set("Content-Type", "application/json")
		if !strings.HasSuffix(r.URL.Path, "/query_range") {
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[%.3f,"1"]}]}}`, sec("time"))
			return
		}
		var pts []string
		if r.Form.Get("query") != "empty" {
			for ts := sec("start"); ts <= sec("end"); ts += sec("step") {
				pts = append(pts, fmt.Sprintf(`[%.3f,"1"]`, ts))
			}
		}
		res := ""
		if len(pts) > 0 {
			res = `{"metric":{"pod":"a"},"values":[` + strings.Join(pts, ",") + `]}`
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[%s]}}`, res)
	}))
	return srv
}

// appendCall is what one Append call held: the query names of its
// samples (sorted, distinct) and their time range.
type appendCall struct {
	names      []string
	minT, maxT int64
}

// TestPollerAppendsWholeChunks: Backfill appends each chunk's results of
// every query in one Append (a batch per query with results), and Eval a
// step's in one batch, so that the appender never sees a time range with
// only some of the queries: the daemon evaluates a step as soon as the
// data passed it, and with an Append per query the first query's backfill
// had the newest step evaluated without the others, whose samples then
// counted late.
func TestPollerAppendsWholeChunks(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv := rangeProm()
	defer srv.Close()
	const step = 15 * time.Second
	t0 := time.Unix(1_700_000_000, 0)
	cases := []struct {
		name      string
		queries   []string
		maxPoints int
		points    int   // of the backfill range
		want      []int // steps of each Append call's chunk
	}{
		{"one chunk", []string{"a", "b", "c", "d"}, 100, 73, []int{73}},
		{"three chunks", []string{"a", "b"}, 5, 12, []int{5, 5, 2}},
		{"an empty query", []string{"a", "empty", "c"}, 100, 10, []int{10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var calls []appendCall
			app := AppenderFunc(func(_ context.Context, bs []telemetry.Batch) error {
				mu.Lock()
				defer mu.Unlock()
				c := appendCall{minT: 1 << 62}
				for _, b := range bs {
					for _, s := range b.Samples {
						c.names = append(c.names, s.Labels.Get("__name__"))
						c.minT, c.maxT = min(c.minT, s.T), max(c.maxT, s.T)
					}
				}
				slices.Sort(c.names)
				c.names = slices.Compact(c.names)
				calls = append(calls, c)
				return nil
			})
			qs := map[string]string{}
			var withData []string
			for _, q := range tc.queries {
				qs[q] = q
				if q != "empty" {
					withData = append(withData, q)
				}
			}
			p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: qs, Step: step, MaxPointsPerQuery: tc.maxPoints},
				prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			end := t0.Add(time.Duration(tc.points-1) * step)
			if err := p.Backfill(context.Background(), t0, end); err != nil {
				t.Fatal(err)
			}
			if len(calls) != len(tc.want) {
				t.Fatalf("backfill made %d Append calls, want %d (one a chunk): %v", len(calls), len(tc.want), calls)
			}
			from := t0
			for i, c := range calls {
				to := from.Add(time.Duration(tc.want[i]-1) * step)
				if !slices.Equal(c.names, withData) || c.minT != from.UnixMilli() || c.maxT != to.UnixMilli() {
					t.Errorf("Append %d held queries %v over [%d, %d], want %v over [%d, %d]", i, c.names, c.minT, c.maxT, withData, from.UnixMilli(), to.UnixMilli())
				}
				from = to.Add(step)
			}

			calls = nil
			if err := p.Eval(context.Background(), end.Add(step)); err != nil {
				t.Fatal(err)
			}
			if len(calls) != 1 || !slices.Equal(calls[0].names, slices.Sorted(slices.Values(tc.queries))) {
				t.Errorf("a poll cycle made Append calls %v, want one with every query", calls)
			}
		})
	}
}
