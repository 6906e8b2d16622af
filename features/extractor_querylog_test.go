package features

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/omen-sre/omen/telemetry"
)

// recordHandler is a slog.Handler that keeps every record, at every level.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}

func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// take returns the records of feature since the last take, each as
// "LEVEL message", and forgets all records.
func (h *recordHandler) take(feature string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "feature" && a.Value.String() == feature {
				out = append(out, r.Level.String()+" "+r.Message)
				return false
			}
			return true
		})
	}
	h.recs = nil
	return out
}

// TestFeatureQueryFailureLogging: a feature query the embedded engine
// fails at every step is warned of when it starts failing and when its
// error's class changes, logged at debug while it fails with the same
// class (the series named in a "duplicate series" error changing with the
// pods is no change), at info when it succeeds again and when a reload
// removes it while failing. It warned at every step (every 5s).
func TestFeatureQueryFailureLogging(t *testing.T) {
	const (
		warn    = "WARN feature query failed; while it fails with this error, logged at debug level"
		debug   = "DEBUG feature query still failing"
		info    = "INFO feature query succeeds again"
		removed = "INFO failing feature query no longer evaluated: a reload removed it or changed its expression"
	)
	reg := prometheus.NewRegistry()
	h := newTestHead(t, reg, HeadOptions{})
	logs := &recordHandler{}
	cfg := Config{Features: []Feature{
		{Name: "joined", Expr: `max by (${entity}) (a * on (${entity}) b)`},
		{Name: "b_max", Expr: `max by (${entity}) (b)`}, // succeeds: Evaluate does not fail
	}}
	e, err := NewExtractor(ExtractorOptions{Config: cfg, Head: h, Registerer: reg, LookbackDelta: 30 * time.Second,
		Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	const minute = 60 * sec
	// Each step k evaluates at base+k minutes the a and b series of its
	// containers of pod ns/p, sampled 5s before (the lookback delta, 30s,
	// hides the older steps' series).
	steps := []struct {
		a, b []string // containers
		want []string
	}{
		// Two b series match a's pod: "found duplicate series for the
		// match group {namespace="ns", pod="p"} … [{…container="x"…},
		// {…container="y"…}]".
		{a: []string{"p"}, b: []string{"x", "y"}, want: []string{warn}},
		// Another pair of b series: the same error, other series named.
		{a: []string{"p"}, b: []string{"x", "z"}, want: []string{debug}},
		{a: []string{"p"}, b: []string{"w", "z"}, want: []string{debug}},
		// Two a series to one b: another error ("multiple matches").
		{a: []string{"p", "q"}, b: []string{"x"}, want: []string{warn}},
		{a: []string{"p", "q"}, b: []string{"x"}, want: []string{debug}},
		{a: []string{"p"}, b: []string{"x"}, want: []string{info}},
		{a: []string{"p"}, b: []string{"x"}, want: nil},
		{a: []string{"p"}, b: []string{"x", "y"}, want: []string{warn}},
	}
	var at int64
	for k, s := range steps {
		at = base + int64(k+1)*minute
		var samples []telemetry.Sample
		for _, c := range s.a {
			samples = append(samples, telemetry.Sample{Labels: labels.FromStrings("__name__", "a", "namespace", "ns", "pod", "p", "container", c), T: at - 5*sec, V: 1})
		}
		for _, c := range s.b {
			samples = append(samples, telemetry.Sample{Labels: labels.FromStrings("__name__", "b", "namespace", "ns", "pod", "p", "container", c), T: at - 5*sec, V: 2})
		}
		appendAll(t, h, samples)
		evaluate(t, e, at)
		if got := logs.take("joined"); fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Errorf("step %d (a %v, b %v): logged %q, want %q", k+1, s.a, s.b, got, s.want)
		}
		if got := logs.take("b_max"); len(got) != 0 {
			t.Errorf("step %d: the succeeding query logged %q", k+1, got)
		}
	}
	// A reload that keeps the failing query keeps its state; one that
	// removes it ends it.
	if err := e.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if got := logs.take("joined"); len(got) != 0 {
		t.Errorf("a reload keeping the failing query logged %q", got)
	}
	if err := e.SetConfig(Config{Features: cfg.Features[1:]}); err != nil {
		t.Fatal(err)
	}
	if got := logs.take("joined"); fmt.Sprint(got) != fmt.Sprint([]string{removed}) {
		t.Errorf("a reload removing the failing query logged %q, want %q", got, removed)
	}
	// Defined again and failing again: a new failure.
	if err := e.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	evaluate(t, e, at)
	if got := logs.take("joined"); fmt.Sprint(got) != fmt.Sprint([]string{warn}) {
		t.Errorf("the query defined again, failing: logged %q, want %q", got, warn)
	}
}

// TestQueryErrorClass: the class logQueries compares drops what changes
// between steps with the same cause.
func TestQueryErrorClass(t *testing.T) {
	dup := func(a, b string) error {
		return fmt.Errorf("run query %q: %w", "a * on (namespace) b", fmt.Errorf(
			`found duplicate series for the match group {namespace="ns"} on the right hand-side of the operation: [{__name__="b", namespace="ns", pod=%q}, {__name__="b", namespace="ns", pod=%q}];many-to-many matching not allowed: matching labels must be unique on one side`, a, b))
	}
	tests := []struct {
		name string
		a, b error
		same bool
	}{
		{name: "duplicate series, other pods", a: dup("x", "y"), b: dup("w", "z"), same: true},
		{name: "overflow, other values", a: errors.New("Scalar value 1e+20 overflows int64"), b: errors.New("Scalar value +Inf overflows int64"), same: true},
		{name: "timeouts", a: promql.ErrQueryTimeout("expression evaluation"), b: fmt.Errorf("run query: %w", context.DeadlineExceeded), same: true},
		{name: "other errors", a: dup("x", "y"), b: errors.New("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")},
		{name: "timeout and too many samples", a: promql.ErrQueryTimeout("expression evaluation"), b: promql.ErrTooManySamples("query execution")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := queryErrorClass(tt.a), queryErrorClass(tt.b)
			if (a == b) != tt.same {
				t.Errorf("classes %q and %q: same %v, want %v", a, b, a == b, tt.same)
			}
			if strings.Contains(a, `pod=`) {
				t.Errorf("class %q names a series", a)
			}
		})
	}
}
