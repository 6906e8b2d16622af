package ui_test

import (
	"net/http"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

// TestEntityWithoutPredictionsNotAGraphNode: the 404 of an entity the
// backend knows but has no prediction of (a pod in the store's history)
// does not say the dependency graph holds it as a node: Dependencies
// answers for it with its service's node, and the page said "The
// dependency graph holds it as a node." (reviewer's finding). It names
// the service and links its page; a name the graph holds as a node is
// still linked to its neighbourhood.
func TestEntityWithoutPredictionsNotAGraphNode(t *testing.T) {
	b := apitest.Backend()
	const pod = "shop/adservice-ktcjqnd82-p7jv5"
	b.Service[pod] = "cart" // known, of the service cart; no prediction
	b.Edges = append(b.Edges, b.Edges[0])
	b.Edges[len(b.Edges)-1].From = "payments" // a graph node without entities
	srv := newServer(t, b)
	cases := []struct {
		path      string
		want, not []string
	}{
		{api.EntityUIPath(pod),
			[]string{`No prediction of`, `an entity of the service cart`, `holds its service, not it`,
				`id="error-link" href="/ui/entities/cart"`},
			[]string{`holds it as a node`, `/dependencies`}},
		{api.EntityUIPath("payments"),
			[]string{`No entity or service`, `holds it as a node`, `id="error-link" href="/api/v1/entities/payments/dependencies"`},
			[]string{`No prediction of`}},
		{api.EntityUIPath("nosuch"),
			[]string{`No entity or service`},
			[]string{`holds it as a node`, `id="error-link"`, `No prediction of`}},
	}
	for _, tc := range cases {
		pageHas(t, srv.URL, tc.path, http.StatusNotFound, tc.want, tc.not)
	}
}
