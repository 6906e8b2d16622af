package api

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestDecorateCauseLinks: a root cause's links go to its worst_entity (a
// service's live entity of the highest evidence), none when worst_entity
// is "" (no live entity), and to the cause itself in a document stored
// before worst_entity existed (absent); omen explain's table prints the
// same link, "-" for none.
func TestDecorateCauseLinks(t *testing.T) {
	str := func(s string) *string { return &s }
	graph := map[string]bool{"cart": true, "shop/a": true, "ghost": true, "shop/b": true}
	tests := []struct {
		name      string
		cause     EntityCause
		wantLinks *Links
		wantTable string
	}{
		{
			name:  "service with a live pod",
			cause: EntityCause{Entity: "cart", WorstEntity: str("shop/cart-7d9f8c6b5-xk2p1")},
			wantLinks: &Links{Explain: "/api/v1/entities/shop%2Fcart-7d9f8c6b5-xk2p1/explain",
				Dependencies: "/api/v1/entities/cart/dependencies", // the service's neighbourhood
				UI:           "/ui/entities/shop%2Fcart-7d9f8c6b5-xk2p1"},
			wantTable: "/ui/entities/shop%2Fcart-7d9f8c6b5-xk2p1 (shop/cart-7d9f8c6b5-xk2p1)",
		},
		{
			name:      "entity",
			cause:     EntityCause{Entity: "shop/a", WorstEntity: str("shop/a")},
			wantLinks: &Links{Explain: "/api/v1/entities/shop%2Fa/explain", Dependencies: "/api/v1/entities/shop%2Fa/dependencies", UI: "/ui/entities/shop%2Fa"},
			wantTable: "/ui/entities/shop%2Fa\n",
		},
		{
			name:      "service without a live entity",
			cause:     EntityCause{Entity: "ghost", WorstEntity: str("")},
			wantLinks: &Links{Dependencies: "/api/v1/entities/ghost/dependencies"}, // a node of the graph
			wantTable: "evidence 0.000  -\n",
		},
		{
			name:      "stored before worst_entity",
			cause:     EntityCause{Entity: "shop/b"},
			wantLinks: &Links{Explain: "/api/v1/entities/shop%2Fb/explain", Dependencies: "/api/v1/entities/shop%2Fb/dependencies", UI: "/ui/entities/shop%2Fb"},
			wantTable: "/ui/entities/shop%2Fb\n",
		},
		{
			name:      "entity not in the graph",
			cause:     EntityCause{Entity: "shop/c", WorstEntity: str("shop/c")},
			wantLinks: &Links{Explain: "/api/v1/entities/shop%2Fc/explain", UI: "/ui/entities/shop%2Fc"},
			wantTable: "/ui/entities/shop%2Fc\n",
		},
		{
			name:      "service not in the graph without a live entity",
			cause:     EntityCause{Entity: "gone", WorstEntity: str("")},
			wantTable: "evidence 0.000  -\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := Explanation{PredictionID: "shop/x@1", Entity: "shop/x", Causes: Causes{Entities: []EntityCause{tt.cause}}}
			DecorateWithGraph(&x, "", func(name string) bool { return graph[name] })
			if got := x.Causes.Entities[0].Links; !reflect.DeepEqual(got, tt.wantLinks) {
				t.Errorf("links %+v, want %+v", got, tt.wantLinks)
			}
			var b bytes.Buffer
			if err := WriteTable(&b, x, 5); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tt.wantTable) {
				t.Errorf("table lacks %q:\n%s", tt.wantTable, b.String())
			}
		})
	}
}

// TestNodeEntity: a dependency node links to its worst_entity, to nothing
// when that is "", and by its name when the backend does not set it.
func TestNodeEntity(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		node Node
		want string
	}{
		{Node{Name: "cart", WorstEntity: str("shop/cart-7d9f8c6b5-xk2p1")}, "shop/cart-7d9f8c6b5-xk2p1"},
		{Node{Name: "ghost", WorstEntity: str("")}, ""},
		{Node{Name: "cart"}, "cart"},
	}
	for _, tt := range tests {
		if got := NodeEntity(tt.node); got != tt.want {
			t.Errorf("NodeEntity(%+v) = %q, want %q", tt.node, got, tt.want)
		}
	}
}
