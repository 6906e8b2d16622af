package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/ui"
)

// TestFleetPagesSameAsListing: the overview, a service's pages and an
// alert page with a dependency graph read every entity's latest
// prediction from the store's memory (ui.LatestScanner over
// store.EachLatest), not from a listing of them all (Predictions of a zero
// query, 0.2 s and 105 MB a view among 50,000 entities). They are the
// pages of the listing, after new predictions and retention's deletes
// too.
func TestFleetPagesSameAsListing(t *testing.T) {
	st := scaleStore(t, 700) // svc0 … svc4, 140 entities each, 20 gone
	explained := store.PredictionID("ns/pod-00012", scaleT0)
	if err := st.PutExplanation(explained, fmt.Appendf(nil, `{"prediction_id":%q,"entity":"ns/pod-00012","t":%d}`, explained, scaleT0)); err != nil {
		t.Fatal(err)
	}
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st,
		Model: func(context.Context) (api.ModelInfo, error) {
			return api.ModelInfo{Version: "v1", StepMs: 15000, AnomalyThreshold: 1}, nil
		},
		Alerts: func() []alert.Alert {
			return []alert.Alert{{Fingerprint: "f1", Entity: "ns/pod-00013", State: "firing", PredictionID: store.PredictionID("ns/pod-00013", scaleT0)}}
		},
		// ns/pod-00012 is svc2's: its neighbourhood, services and pods.
		Dependencies: func(_ context.Context, entity string) (api.Neighbourhood, error) {
			return api.Neighbourhood{Entity: entity, Node: "svc2",
				Nodes: []api.Node{{Name: "svc2"}, {Name: "svc3"}, {Name: "svc4"}, {Name: "ns/pod-00099"}, {Name: "ns/pod-00003"}},
				Edges: []explain.Edge{{From: "svc2", To: "svc3", Weight: 1}, {From: "svc2", To: "svc4", Weight: 1}}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := any(b).(ui.LatestScanner); !ok {
		t.Fatal("api.StoreBackend is no ui.LatestScanner")
	}
	counted := &listCounter{StoreBackend: b}
	opts := ui.Options{Backend: counted, ServiceEntities: 50}
	fast, err := ui.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Backend = fleetOnly{b}
	slow, err := ui.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/ui/", "/ui/?match[app]=svc2", "/ui/?match[app]=none",
		api.EntityUIPath("svc1"), api.EntityUIPath("svc1") + "?all=1", api.AlertUIPath(explained)}
	same := func(when string) map[string]string {
		t.Helper()
		bodies := map[string]string{}
		for _, path := range paths {
			code, body := get(t, fast, path)
			if code != http.StatusOK {
				t.Fatalf("%s: GET %s: %d %.2000s", when, path, code, body)
			}
			if counted.listed > 0 {
				t.Errorf("%s: GET %s listed every entity's latest prediction (Predictions) %d times", when, path, counted.listed)
				counted.listed = 0
			}
			if scode, sbody := get(t, slow, path); scode != code || sbody != body {
				t.Errorf("%s: GET %s: %d, %d bytes; %d, %d bytes from the listing:\n%s", when, path, code, len(body), scode, len(sbody), firstDiff(body, sbody))
			}
			bodies[path] = body
		}
		return bodies
	}
	pages := same("stored")
	for _, want := range []struct{ path, text string }{
		{"/ui/", `id="gone"`},                             // gone entities listed
		{"/ui/", `id="heatmap"`},                          // and the heat map
		{api.EntityUIPath("svc1"), `id="service-capped"`}, // 120 current, 50 listed
		{api.EntityUIPath("svc1"), `id="gone-entities"`},
		{api.AlertUIPath(explained), `data-now="` + fmt.Sprint(scaleT0)},
	} {
		if !strings.Contains(pages[want.path], want.text) {
			t.Errorf("GET %s lacks %s", want.path, want.text)
		}
	}

	// New predictions: a gone entity back, the likeliest to fail, and a
	// new one of svc1.
	next := scaleT0 + 15000
	if err := st.PutEntity("ns/pod-99999", map[string]string{"namespace": "ns", "pod": "pod-99999", "app": "svc1"}, next); err != nil {
		t.Fatal(err)
	}
	if err := st.PutPredictions([]store.Prediction{
		{Entity: "ns/pod-00003", T: next, Prob: 0.999, Threshold: 0.5, ModelVersion: "v1"},
		{Entity: "ns/pod-99999", T: next, Prob: 0.2, Threshold: 0.5, ModelVersion: "v1"},
	}); err != nil {
		t.Fatal(err)
	}
	// Two of svc3 (a node of the graph) of the same, highest ratio to
	// their threshold (2), stored in the order opposite to their names':
	// the node's figures are the first's by name, as listed.
	for _, p := range []store.Prediction{
		{Entity: "ns/pod-99998", T: next, Prob: 0.5, Threshold: 0.25, ModelVersion: "v1"},
		{Entity: "ns/a-first", T: next, Prob: 0.75, Threshold: 0.375, ModelVersion: "v1"},
	} {
		if err := st.PutEntity(p.Entity, map[string]string{"namespace": "ns", "pod": p.Entity[3:], "app": "svc3"}, next); err != nil {
			t.Fatal(err)
		}
		if err := st.PutPredictions([]store.Prediction{p}); err != nil {
			t.Fatal(err)
		}
	}
	pages = same("after new predictions")
	if !strings.Contains(pages[api.EntityUIPath("svc1")+"?all=1"], `data-entity="ns/pod-99999"`) {
		t.Error("svc1's page lacks its new entity")
	}

	// Retention deletes the gone entities (10 minutes behind): their
	// latest predictions and records, and the record of ns/pod-00003,
	// last seen as long ago, whose prediction is new.
	if _, err := st.RunRetention(context.Background(), time.UnixMilli(scaleT0-300000).Add(store.DefaultRetention)); err != nil {
		t.Fatal(err)
	}
	pages = same("after retention")
	if strings.Contains(pages["/ui/"], `id="gone"`) {
		t.Error("the overview lists gone entities after retention deleted them")
	}
}

// firstDiff shows where a and b first differ.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-200)
	return fmt.Sprintf("…%s\n---- the listing's:\n…%s", a[lo:min(len(a), i+200)], b[lo:min(len(b), i+200)])
}

// listCounter counts a StoreBackend's listings of every entity's latest
// prediction (Predictions of a zero query).
type listCounter struct {
	*api.StoreBackend
	listed int
}

func (c *listCounter) Predictions(ctx context.Context, q api.PredictionQuery) ([]api.Prediction, error) {
	if q.Entity == "" && q.From.IsZero() && q.To.IsZero() {
		c.listed++
	}
	return c.StoreBackend.Predictions(ctx, q)
}

// TestServicePageCapped: a service of more current entities than
// Options.ServiceEntities lists the likeliest to fail of them, the
// likeliest first, and of more than 50 gone ones the 50 last seen, with
// their counts and a link to the page of them all (?all=1, by name, as
// the page listed them before).
func TestServicePageCapped(t *testing.T) {
	const n, limit = 3000, 40
	st := scaleStore(t, n)
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st, Model: func(context.Context) (api.ModelInfo, error) {
		return api.ModelInfo{Version: "v1", StepMs: 15000, AnomalyThreshold: 1}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := ui.New(ui.Options{Backend: b, ServiceEntities: limit})
	if err != nil {
		t.Fatal(err)
	}
	var current, gone []string // svc1's, by name
	for i := range n {
		if i%5 != 1 {
			continue
		}
		if id := fmt.Sprintf("ns/pod-%05d", i); i%7 == 3 {
			gone = append(gone, id)
		} else {
			current = append(current, id)
		}
	}
	rows := func(body, class string) []string {
		var out []string
		for _, part := range strings.Split(body, `class="`+class+`" data-entity="`)[1:] {
			out = append(out, part[:strings.IndexByte(part, '"')])
		}
		return out
	}
	code, body := get(t, u, api.EntityUIPath("svc1"))
	if code != http.StatusOK {
		t.Fatalf("GET svc1: %d %.2000s", code, body)
	}
	for _, want := range []string{fmt.Sprintf(`id="service-capped" data-total="%d"`, len(current)),
		fmt.Sprintf(`id="gone-capped" data-total="%d"`, len(gone)), `href="/ui/entities/svc1?all=1" id="service-all"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET svc1 lacks %s", want)
		}
	}
	// Prob 0.01 × (i mod 100): the likeliest are 0.96 (i ≡ 96), 0.91, …
	// (i ≡ 1 mod 5), each of 30 entities less those gone, by name.
	got := rows(body, "service-entity")
	if len(got) != limit {
		t.Fatalf("GET svc1: %d current entities listed, want %d", len(got), limit)
	}
	var want []string
	for _, r := range []int{96, 91} {
		for _, id := range current {
			var i int
			fmt.Sscanf(id, "ns/pod-%d", &i)
			if i%100 == r && len(want) < limit {
				want = append(want, id)
			}
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("GET svc1 lists\n%v\nwant the likeliest to fail\n%v", got, want)
	}
	// The gone entities all end at the same time: the 50 first by name.
	if g := rows(body, "gone-entity"); strings.Join(g, " ") != strings.Join(gone[:50], " ") {
		t.Errorf("GET svc1 lists gone\n%v\nwant\n%v", g, gone[:50])
	}

	code, body = get(t, u, api.EntityUIPath("svc1")+"?all=1")
	if code != http.StatusOK || strings.Contains(body, "capped") {
		t.Fatalf("GET svc1?all=1: %d %.2000s", code, body)
	}
	if g := rows(body, "service-entity"); strings.Join(g, " ") != strings.Join(current, " ") {
		t.Errorf("GET svc1?all=1 lists %d current entities, want all %d by name", len(g), len(current))
	}
	if g := rows(body, "gone-entity"); strings.Join(g, " ") != strings.Join(gone, " ") {
		t.Errorf("GET svc1?all=1 lists %d gone entities, want all %d by name", len(g), len(gone))
	}
	if code, body := get(t, u, api.EntityUIPath("ns/pod-00001")+"?all=1"); code != http.StatusBadRequest || !strings.Contains(body, "is an entity, not a service") {
		t.Errorf("GET an entity's page with all=1: %d %.500s", code, body)
	}
}
