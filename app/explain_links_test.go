package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"math"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
)

// TestCauseLinksResolve: with a dependency graph, root causes are
// services, and every link of a cause (the API's causes.entities[].links,
// the root-cause links of the UI's alert page and of omen
// explain's table) answers 200: a service's links go to its live entity of
// the highest evidence (worst_entity), and a service without a live entity
// has none. Before, the links named the service as an entity, and
// /ui/entities/cart, /api/v1/entities/cart/explain and
// /api/v1/entities/cart/dependencies answered 404 (reviewer's finding).
// The same holds for the nodes of the dependency neighbourhood (the API's
// node links and the UI's graph).
func TestCauseLinksResolve(t *testing.T) {
	cfg := config.Default()
	cfg.Dependencies = []config.Dependency{
		{Source: "frontend", Target: "cart"}, {Source: "cart", Target: "redis"},
		{Source: "frontend", Target: "ghost"}, // no live entity
	}
	names := features.Names(cfg.Config)
	s, st := newTestScorer(t, cfg, testModel(t, names, 4, 8, 1), prometheus.NewRegistry())
	ex := newExplainer(st, s, cfg)
	step := time.Duration(cfg.Step).Milliseconds()
	pods := []struct {
		entity string
		labels map[string]string
	}{
		{"shop/frontend-6f7c9d8b4-q2w3e", map[string]string{"namespace": "shop", "pod": "frontend-6f7c9d8b4-q2w3e"}},
		{"shop/cart-7d9f8c6b5-xk2p1", map[string]string{"namespace": "shop", "pod": "cart-7d9f8c6b5-xk2p1"}},
		{"shop/cart-7d9f8c6b5-ab3cd", map[string]string{"namespace": "shop", "pod": "cart-7d9f8c6b5-ab3cd"}},
		{"shop/redis-0", map[string]string{"namespace": "shop", "pod": "redis-0", "app": "redis"}},
	}
	ctx := context.Background()
	for i := int64(0); i < 6; i++ {
		var vs []features.Vector
		for j, p := range pods {
			vals := make([]float64, len(names))
			for k := range vals {
				vals[k] = float64((k+int(i)+3*j)%5) * 0.3 * float64(j+1)
			}
			vs = append(vs, features.Vector{Entity: p.entity, Labels: p.labels, T: i * step, Values: vals})
		}
		s.score(ctx, i*step, vs)
	}
	// The expected worst entity of each service, from the scorer's latest
	// predictions.
	_, worst := ex.evidenceOf(true)
	if worst["cart"] != "shop/cart-7d9f8c6b5-xk2p1" && worst["cart"] != "shop/cart-7d9f8c6b5-ab3cd" || worst["redis"] != "shop/redis-0" {
		t.Fatalf("worst entities %v", worst)
	}

	explainNow := func(ctx context.Context, entity string) (api.Explanation, error) {
		p, ok := s.latestPrediction(entity)
		if !ok {
			return api.Explanation{}, fmt.Errorf("entity %q: %w", entity, api.ErrNotFound)
		}
		x, err := ex.explain(ctx, p)
		if err != nil {
			return api.Explanation{}, err
		}
		doc, err := ex.storeExplanation(x)
		if err != nil {
			return api.Explanation{}, err
		}
		return api.DecodeExplanation(doc)
	}
	deps := func(_ context.Context, entity string) (api.Neighbourhood, error) { // as App.dependencies
		node := entity
		if p, ok := s.latestPrediction(entity); ok {
			node = serviceOf(p.Labels)
		}
		ev, worst := ex.evidenceOf(true)
		n, err := api.NeighbourhoodOf(ex.graph, entity, node, ev)
		setWorstEntities(&n, worst)
		return n, err
	}
	srv := apiServer(t, api.StoreOptions{Store: st, Explain: explainNow, Dependencies: deps}, prometheus.NewRegistry())
	get := func(method, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	const explained = "shop/frontend-6f7c9d8b4-q2w3e"
	x, err := explainNow(ctx, explained)
	if err != nil {
		t.Fatal(err)
	}
	// The API's document, as a JSON client reads it.
	code, body := get(http.MethodGet, api.ExplanationPath(x.PredictionID))
	if code != http.StatusOK {
		t.Fatalf("explanation %s: %d %s", x.PredictionID, code, body)
	}
	var doc struct {
		Data api.Explanation `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]api.EntityCause{}
	for _, c := range doc.Data.Causes.Entities {
		got[c.Entity] = c
	}
	// ghost, without a live entity, has no evidence and is no cause
	// (score 0); its neighbourhood node is checked below.
	if c, ok := got["ghost"]; ok {
		t.Errorf("ghost (no evidence) listed as a root cause: %+v", c)
	}
	for _, svc := range []string{"frontend", "cart", "redis"} {
		c, ok := got[svc]
		if !ok {
			t.Fatalf("causes %+v lack %s", doc.Data.Causes.Entities, svc)
		}
		want := worst[svc]
		if c.WorstEntity == nil || *c.WorstEntity != want {
			t.Errorf("cause %s: worst_entity %v, want %q", svc, c.WorstEntity, want)
		}
		if want == "" {
			// No page or explanation; the service's neighbourhood in
			// the graph still answers.
			if c.Links == nil || c.Links.UI != "" || c.Links.Explain != "" {
				t.Errorf("cause %s without live entity: links %+v, want its dependencies only", svc, c.Links)
			} else if code, body := get(http.MethodGet, c.Links.Dependencies); code != http.StatusOK {
				t.Errorf("cause %s: GET %s: %d %s", svc, c.Links.Dependencies, code, body)
			}
			continue
		}
		if c.Links == nil {
			t.Errorf("cause %s: no links", svc)
			continue
		}
		for _, l := range []struct{ method, path string }{
			{http.MethodGet, c.Links.UI}, {http.MethodPost, c.Links.Explain}, {http.MethodGet, c.Links.Dependencies},
		} {
			if code, body := get(l.method, l.path); code != http.StatusOK {
				t.Errorf("cause %s: %s %s: %d %s", svc, l.method, l.path, code, body)
			}
		}
	}

	// The UI's alert (prediction) page links each cause.
	href := regexp.MustCompile(`<tr class="entity-cause"[^>]*>.*?</tr>`)
	link := regexp.MustCompile(`href="([^"]+)"`)
	for _, page := range []string{api.AlertUIPath(x.PredictionID)} {
		code, body := get(http.MethodGet, page)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", page, code)
		}
		rows := href.FindAllString(body, -1)
		if len(rows) != len(doc.Data.Causes.Entities) {
			t.Errorf("%s: %d root-cause rows, want %d", page, len(rows), len(doc.Data.Causes.Entities))
		}
		n := 0
		for _, row := range rows {
			for _, m := range link.FindAllStringSubmatch(row, -1) {
				n++
				if code, _ := get(http.MethodGet, html.UnescapeString(m[1])); code != http.StatusOK {
					t.Errorf("%s: root-cause link %s: %d", page, m[1], code)
				}
			}
			if strings.Contains(row, `data-entity="ghost"`) && !strings.Contains(row, "no live entity") {
				t.Errorf("%s: row of ghost %s, want (no live entity)", page, row)
			}
		}
		if n < 3 {
			t.Errorf("%s: %d root-cause links, want one per live service", page, n)
		}
	}

	// The dependency neighbourhood: the API's node links and the UI
	// graph's.
	code, body = get(http.MethodGet, api.DependenciesPath(explained))
	if code != http.StatusOK {
		t.Fatalf("dependencies of %s: %d %s", explained, code, body)
	}
	var nb struct {
		Data api.Neighbourhood `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &nb); err != nil {
		t.Fatal(err)
	}
	if len(nb.Data.Nodes) != 3 { // frontend, cart, ghost
		t.Errorf("neighbourhood nodes %+v, want 3", nb.Data.Nodes)
	}
	for _, n := range nb.Data.Nodes {
		if n.WorstEntity == nil || *n.WorstEntity != worst[n.Name] {
			t.Errorf("node %s: worst_entity %v, want %q", n.Name, n.WorstEntity, worst[n.Name])
		}
		if worst[n.Name] == "" {
			if n.Link != "" {
				t.Errorf("node %s without live entity: link %s, want none", n.Name, n.Link)
			}
			continue
		}
		if code, _ := get(http.MethodGet, n.Link); code != http.StatusOK {
			t.Errorf("node %s: link %q: %d", n.Name, n.Link, code)
		}
	}
	_, page := get(http.MethodGet, api.AlertUIPath(x.PredictionID))
	nodeLinks := regexp.MustCompile(`<a href="([^"]+)"><g class="node" data-node="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(nodeLinks) != 2 { // frontend, cart; not ghost
		t.Errorf("UI graph node links %v, want frontend's and cart's", nodeLinks)
	}
	for _, m := range nodeLinks {
		if code, _ := get(http.MethodGet, html.UnescapeString(m[1])); code != http.StatusOK {
			t.Errorf("UI graph node %s: link %s: %d", m[2], m[1], code)
		}
	}

	// omen explain's table.
	var tbl bytes.Buffer
	if err := api.WriteTable(&tbl, doc.Data, 10); err != nil {
		t.Fatal(err)
	}
	paths := regexp.MustCompile(`/ui/entities/\S+`).FindAllString(tbl.String(), -1)
	if len(paths) < 3 {
		t.Errorf("table links %v, want one per live service:\n%s", paths, tbl.String())
	}
	for _, p := range paths {
		if code, _ := get(http.MethodGet, p); code != http.StatusOK {
			t.Errorf("table link %s: %d\n%s", p, code, tbl.String())
		}
	}
}

// TestEvidenceOfWorstEntity: folding entities into services keeps, for
// each service, the entity whose evidence the service's is (the highest
// anomaly score + probability, NaN anomaly counting 0, ties to the smaller
// id); StatefulSet pods without a service or app label are services of
// their own.
func TestEvidenceOfWorstEntity(t *testing.T) {
	pred := func(pod string, anomaly, prob float64, labels ...string) prediction {
		l := map[string]string{"namespace": "shop", "pod": pod}
		for i := 0; i+1 < len(labels); i += 2 {
			l[labels[i]] = labels[i+1]
		}
		return prediction{Prediction: store.Prediction{Entity: "shop/" + pod, Anomaly: anomaly, Prob: prob}, Labels: l}
	}
	tests := []struct {
		name      string
		preds     []prediction
		byService bool
		wantEv    map[string]float64
		wantWorst map[string]string
	}{
		{
			name: "deployment pods fold into their service",
			preds: []prediction{
				pred("cart-7d9f8c6b5-xk2p1", 1, 0.2), pred("cart-7d9f8c6b5-ab3cd", 3, 0.5), pred("cart-7d9f8c6b5-zz9zz", math.NaN(), 0.1),
			},
			byService: true,
			wantEv:    map[string]float64{"cart": 3.5},
			wantWorst: map[string]string{"cart": "shop/cart-7d9f8c6b5-ab3cd"},
		},
		{
			name:      "statefulset pods: by label, else each its own",
			preds:     []prediction{pred("redis-0", 0.5, 0, "app", "redis"), pred("redis-1", 2, 0, "app", "redis"), pred("api-0", 1, 0), pred("api-1", 1, 0)},
			byService: true,
			wantEv:    map[string]float64{"redis": 2, "api-0": 1, "api-1": 1},
			wantWorst: map[string]string{"redis": "shop/redis-1", "api-0": "shop/api-0", "api-1": "shop/api-1"},
		},
		{
			name:      "ties go to the smaller id; zero evidence still has its entity",
			preds:     []prediction{pred("db-0", 0, 0, "app", "db"), pred("db-1", 0, 0, "app", "db")},
			byService: true,
			wantEv:    map[string]float64{},
			wantWorst: map[string]string{"db": "shop/db-0"},
		},
		{
			name:      "without a graph an entity is its own",
			preds:     []prediction{pred("cart-7d9f8c6b5-xk2p1", 1, 0.2), pred("cart-7d9f8c6b5-ab3cd", 3, 0.5)},
			wantEv:    map[string]float64{"shop/cart-7d9f8c6b5-xk2p1": 1.2, "shop/cart-7d9f8c6b5-ab3cd": 3.5},
			wantWorst: map[string]string{"shop/cart-7d9f8c6b5-xk2p1": "shop/cart-7d9f8c6b5-xk2p1", "shop/cart-7d9f8c6b5-ab3cd": "shop/cart-7d9f8c6b5-ab3cd"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scorer{latest: map[string]prediction{}}
			for _, p := range tt.preds {
				s.latest[p.Entity] = p
			}
			ev, worst := (&explainer{scorer: s}).evidenceOf(tt.byService)
			if !maps.Equal(ev, tt.wantEv) || !maps.Equal(worst, tt.wantWorst) {
				t.Errorf("evidence %v, worst %v; want %v, %v", ev, worst, tt.wantEv, tt.wantWorst)
			}
		})
	}
}
