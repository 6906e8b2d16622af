package ui_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// TestEntityPageEscapedID: the page of an entity whose ID escapes a "/" of
// a label value ("col%2Fx/y": namespace col/x, pod y) is reached by its
// link (api.EntityUIPath, /ui/entities/col%252Fx%2Fy) and shows that
// entity, not "col/x%2Fy" (namespace col, pod x/y), and the overview links
// each to its own page.
func TestEntityPageEscapedID(t *testing.T) {
	b := apitest.Backend()
	last := b.PredictionList[len(b.PredictionList)-1]
	for _, e := range []struct{ id, ns, pod, team string }{
		{"col%2Fx/y", "col/x", "y", "alpha-team"},
		{"col/x%2Fy", "col", "x/y", "bravo-team"},
	} {
		p := last
		p.ID, p.Entity, p.Labels = e.id+"@1", e.id, map[string]string{"namespace": e.ns, "pod": e.pod, "team": e.team}
		b.PredictionList = append(b.PredictionList, p)
	}
	srv := newServer(t, b)
	pageHas(t, srv.URL, api.EntityUIPath("col%2Fx/y"), http.StatusOK, []string{"alpha-team"}, []string{"bravo-team"})
	pageHas(t, srv.URL, api.EntityUIPath("col/x%2Fy"), http.StatusOK, []string{"bravo-team"}, []string{"alpha-team"})
	body := pageHas(t, srv.URL, "/ui/", http.StatusOK, nil, nil)
	for _, id := range []string{"col%2Fx/y", "col/x%2Fy"} {
		if href := `href="` + api.EntityUIPath(id); !strings.Contains(body, href) {
			t.Errorf("overview lacks %s", href)
		}
	}
}
