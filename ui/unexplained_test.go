package ui_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/explain"
)

// TestUnexplainedPages: an explanation document stored without
// attributions (Error set: the explanation failed when the alert fired)
// is shown as its note, not as a zero waterfall and empty causes: the
// entity page still offers "explain now", the alert page links to it, and
// the heat map does not count the entity as explained.
func TestUnexplainedPages(t *testing.T) {
	const note = "no explanation: prediction is no longer the latest"
	b := apitest.Backend()
	for id, x := range b.Explanations {
		if x.Entity == apitest.CartEntity {
			b.Explanations[id] = api.Explanation{PredictionID: x.PredictionID, Entity: x.Entity, Labels: x.Labels, T: x.T,
				Probability: x.Probability, Threshold: x.Threshold, ModelVersion: x.ModelVersion,
				Features: x.Features, Window: x.Window, Step: x.Step, Attribution: explain.Attribution{}, Error: note}
		}
	}
	srv := newServer(t, b)
	explainNow := `<form class="explain-now" method="post" action="` + api.EntityUIPath(apitest.CartEntity) + `">`
	cases := []struct {
		name, path string
		want, not  []string
	}{
		{"entity", api.EntityUIPath(apitest.CartEntity),
			[]string{`id="unexplained"`, note, explainNow, `id="metric-dns_errors"`},
			[]string{`id="waterfall"`, `data-phi=`}},
		{"alert", api.AlertUIPath(apitest.FiringFingerprint),
			[]string{`id="unexplained"`, note, explainNow, `badge firing`},
			[]string{`id="waterfall"`, `id="metric-causes"`, `data-phi=`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := fetch(t, srv.URL+tc.path)
			if code != 200 {
				t.Fatalf("status %d:\n%s", code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %s", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(body, w) {
					t.Errorf("page has %s", w)
				}
			}
		})
	}
	_, body, _ := fetch(t, srv.URL+"/ui/")
	row := regexp.MustCompile(`(?s)<g class="hm-row" data-entity="` + regexp.QuoteMeta(apitest.CartEntity) + `".*?</g>`).FindString(body)
	if row == "" || strings.Contains(row, "data-phi=") || strings.Contains(row, "<a href=\"/ui/alerts/") {
		t.Errorf("heat map row of the unexplained %s:\n%s", apitest.CartEntity, row)
	}
}

// TestFiringNoteBeforeResolvedExplanation: when the firing alert of an
// entity could not be explained, its entity page shows that note, not the
// explanation of an older, resolved alert of the same entity.
func TestFiringNoteBeforeResolvedExplanation(t *testing.T) {
	const note = "no explanation: model evaluation failed"
	const oldFP = "00000000000000aa"
	b := apitest.Backend()
	latest := apitest.CartEntity + "@" + strconv.FormatInt(apitest.T0, 10)
	real, ok := b.Explanations[latest]
	if !ok {
		t.Fatalf("fixture has no explanation under %s", latest)
	}
	// The memory backend finds an alert's document under the alert's
	// prediction id: the firing alert fired a step before the latest
	// prediction (nothing stored for that one), the resolved one long ago.
	firedID := apitest.CartEntity + "@" + strconv.FormatInt(apitest.T0-apitest.Step, 10)
	oldID := apitest.CartEntity + "@" + strconv.FormatInt(apitest.T0-40*apitest.Step, 10)
	delete(b.Explanations, latest)
	b.Explanations[oldID] = real
	b.Explanations[firedID] = api.Explanation{PredictionID: firedID, Entity: real.Entity,
		Labels: real.Labels, T: real.T, Probability: real.Probability, Threshold: real.Threshold, Error: note}
	for i := range b.AlertList {
		if b.AlertList[i].Fingerprint == apitest.FiringFingerprint {
			b.AlertList[i].PredictionID = firedID
		}
	}
	b.AlertList = append(b.AlertList, api.Alert{Fingerprint: oldFP, State: api.AlertResolved, Entity: apitest.CartEntity,
		Labels:       map[string]string{"alertname": "ModuleLoadFailurePredicted", "namespace": "shop", "pod": "cart-7d9f8b6c4-x2k9p", "severity": "critical"},
		PredictionID: oldID, Probability: 0.95, Threshold: 0.5,
		ActiveAt: apitest.T0 - 60*apitest.Step, ResolvedAt: apitest.T0 - 30*apitest.Step})
	srv := newServer(t, b)
	code, body, _ := fetch(t, srv.URL+api.EntityUIPath(apitest.CartEntity))
	if code != 200 {
		t.Fatalf("status %d:\n%s", code, body)
	}
	if !strings.Contains(body, `id="unexplained"`) || !strings.Contains(body, note) || strings.Contains(body, `id="waterfall"`) {
		t.Errorf("entity page does not show the firing alert's note instead of the resolved alert's waterfall:\n%s", body)
	}
}
