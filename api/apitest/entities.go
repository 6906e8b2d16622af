package apitest

import (
	"fmt"
	"testing"

	"github.com/omen-sre/omen/store"
)

// EntityStore returns an in-memory store (closed in tb.Cleanup) holding n
// entities, ns/pod-00000 …: entity(i, id) gives the i-th one's record and
// predictions. It writes them 5000 entities at a time, for the tests of
// a fleet too large to list.
func EntityStore(tb testing.TB, n int, entity func(i int, id string) (store.EntityInfo, []store.Prediction)) *store.Store {
	tb.Helper()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	const chunk = 5000
	for lo := 0; lo < n; lo += chunk {
		var es []store.EntityInfo
		var ps []store.Prediction
		for i := lo; i < min(n, lo+chunk); i++ {
			e, p := entity(i, fmt.Sprintf("ns/pod-%05d", i))
			es = append(es, e)
			ps = append(ps, p...)
		}
		if err := st.PutEntities(es); err != nil {
			tb.Fatal(err)
		}
		if err := st.PutPredictions(ps); err != nil {
			tb.Fatal(err)
		}
	}
	return st
}
