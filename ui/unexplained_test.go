package ui_test

import (
	"regexp"
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
	explainNow := `href="` + api.EntityUIPath(apitest.CartEntity) + `?explain=now"`
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
