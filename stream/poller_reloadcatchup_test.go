package stream

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omen-sre/omen/telemetry"
)

// exprProm is a fake Prometheus answering each expression with its value
// in vals (one series, pod a): an instant query at its time, a range
// query at each step from start to end. onRequest (when set) is called
// with each request's expression, and whether it is a range query, before
// the answer; an error it returns is answered as a bad_data error.
type exprProm struct {
	vals      map[string]string
	onRequest func(expr string, ranged bool) error
}

func (f *exprProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	expr := r.Form.Get("query")
	ranged := strings.HasSuffix(r.URL.Path, "/query_range")
	if f.onRequest != nil {
		if err := f.onRequest(expr, ranged); err != nil {
			jsonResponse(400, fmt.Sprintf(`{"status":"error","errorType":"bad_data","error":%q}`, err.Error()))(w)
			return
		}
	}
	v := f.vals[expr]
	w.Header().Set("Content-Type", "application/json")
	if !ranged {
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[%s,%q]}]}}`, r.Form.Get("time"), v)
		return
	}
	from, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
	to, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
	step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
	var pts []string
	for t := from; t <= to+step/1000; t += step {
		pts = append(pts, fmt.Sprintf(`[%.3f,%q]`, t, v))
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pod":"a"},"values":[%s]}]}}`, strings.Join(pts, ","))
}

// firstAppendAfter returns the first of app's Appends holding a sample
// after t (ms), and whether there is one.
func firstAppendAfter(app *hookAppender, t int64) ([]telemetry.Sample, bool) {
	app.mu.Lock()
	defer app.mu.Unlock()
	for _, ss := range app.appends {
		if slices.ContainsFunc(ss, func(s telemetry.Sample) bool { return s.T > t }) {
			return ss, true
		}
	}
	return nil, false
}

// hasSample reports whether ss holds the value v of query name at t (ms).
func hasSample(ss []telemetry.Sample, name string, t int64, v float64) bool {
	return slices.ContainsFunc(ss, func(s telemetry.Sample) bool {
		return s.Labels.Get("__name__") == name && s.T == t && s.V == v
	})
}

// TestPollerReloadDuringCatchUpRefetchesStepBefore: a SetQueries changing
// query a's expression while the poll's catch-up range query of another
// query (b, whose first poll failed) is under way drops the poll's
// results of a (see current); the next poll fetches with the new
// expression a's step before the poll too, whose values the reload
// dropped. The poll noted the reloads under way before its catch-up
// (which can take up to a step before current checks), so it missed this
// one and the next poll fetched only the poll's own step: a's value at
// the step before stayed dropped.
func TestPollerReloadDuringCatchUpRefetchesStepBefore(t *testing.T) {
	verifyNoLeaks(t)
	var p *Poller
	var bPolls atomic.Int32
	var reload sync.Once
	fp := &exprProm{vals: map[string]string{"old": "1", "new": "2", "bq": "5"}}
	fp.onRequest = func(expr string, ranged bool) error {
		switch {
		case expr == "bq" && ranged:
			// The second poll's catch-up of b.
			reload.Do(func() {
				if err := p.SetQueries(map[string]string{"a": "new", "b": "bq"}); err != nil {
					t.Error(err)
				}
			})
		case expr == "bq" && bPolls.Add(1) == 1:
			return fmt.Errorf("b's first poll fails")
		}
		return nil
	}
	srv := httptest.NewServer(fp)
	t.Cleanup(srv.Close)
	app := &hookAppender{}
	const step = time.Second
	p, _ = catchUpPoller(t, app, srv.URL, map[string]string{"a": "old", "b": "bq"}, step)
	runPoller(t, p)
	// The second poll's step (ms): the reload came during its catch-up.
	t2 := waitAppendAfterSecond(t, app, "an Append after the second poll's")
	app.mu.Lock()
	if hasSample(app.appends[1], "a", t2, 1) {
		t.Errorf("the second poll's Append holds a's old value at %d: the reload under way should have dropped it", t2)
	}
	app.mu.Unlock()
	got, _ := firstAppendAfter(app, t2)
	for _, at := range []int64{t2 - step.Milliseconds(), t2} {
		if !hasSample(got, "a", at, 2) {
			t.Errorf("the first Append after the second poll's (step %d) has no value 2 of a at %d: %v", t2, at, got)
		}
	}
}
