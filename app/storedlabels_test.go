package app

import (
	"fmt"
	"log/slog"
	"maps"
	"testing"

	"github.com/omen-sre/omen/store"
)

// TestStoredLabelsPointLookup: the dependencies endpoint maps a gone pod
// to its service by the labels the store keeps; it used to list every
// entity kept within retention (150,000 after a fortnight of pod churn)
// to find one. It now reads that entity's record.
func TestStoredLabelsPointLookup(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	const n = 5000
	es := make([]store.EntityInfo, n)
	for i := range es {
		es[i] = store.EntityInfo{ID: fmt.Sprintf("shop/pod-%05d", i), Labels: map[string]string{"namespace": "shop", "pod": fmt.Sprintf("pod-%05d", i)}, LastSeen: 1000}
	}
	if err := st.PutEntities(es); err != nil {
		t.Fatal(err)
	}
	a := &App{store: st, logger: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		entity string
		want   map[string]string
		ok     bool
	}{
		{"shop/pod-04321", map[string]string{"namespace": "shop", "pod": "pod-04321"}, true},
		{"shop/gone", nil, false},
	} {
		got, ok := a.storedLabels(tc.entity)
		if ok != tc.ok || !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v, %v; want %v, %v", tc.entity, got, ok, tc.want, tc.ok)
		}
		allocs := testing.AllocsPerRun(3, func() { a.storedLabels(tc.entity) })
		if allocs > 200 {
			t.Errorf("%s among %d entities: %.0f allocations, every entity was read", tc.entity, n, allocs)
		}
	}
}
