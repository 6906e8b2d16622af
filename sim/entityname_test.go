package sim

import "testing"

// TestEntityNameEscapes: EntityName names an entity as the features
// extractor does, a value's "/" escaped, so that label values holding "/"
// give distinct names (both were "col/x/y") and plain values their plain
// name.
func TestEntityNameEscapes(t *testing.T) {
	el := []string{"namespace", "pod"}
	for _, tc := range []struct {
		m    map[string]string
		want string
	}{
		{map[string]string{"namespace": "col/x", "pod": "y"}, "col%2Fx/y"},
		{map[string]string{"namespace": "col", "pod": "x/y"}, "col/x%2Fy"},
		{map[string]string{"namespace": "shop", "pod": "a-1"}, "shop/a-1"},
		{map[string]string{"namespace": "50%", "pod": "a"}, "50%25/a"},
	} {
		if got := EntityName(tc.m, el); got != tc.want {
			t.Errorf("EntityName(%v) = %q, want %q", tc.m, got, tc.want)
		}
	}
}
