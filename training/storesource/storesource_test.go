package storesource

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omen-sre/omen/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLoadFromStore(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	st, err := store.Open(store.Options{Path: t.TempDir(), NoSync: true, Retention: 1000 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PutSchema([]string{"cpu", "mem"}, []string{"crashloop"}); err != nil {
		t.Fatal(err)
	}
	const step = 60_000
	base := now.UnixMilli() - 10*step
	var vs []store.Vector
	for i, tt := range []int{0, 1, 3, 4} { // step 2 missing
		vs = append(vs, store.Vector{Entity: "ns/a", T: base + int64(tt)*step + 7, Values: []float64{float64(i), 10 * float64(i)}, Failure: []bool{tt == 4}})
	}
	vs = append(vs, store.Vector{Entity: "ns/b", T: base, Values: []float64{1, 2}, Failure: []bool{false}},
		store.Vector{Entity: "ns/b", T: base + step, Values: []float64{3, 4}, Failure: []bool{false}})
	if err := st.PutVectors(vs); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"ns/a", "ns/b"} {
		if err := st.PutEntity(e, map[string]string{"pod": e}, base); err != nil {
			t.Fatal(err)
		}
	}
	src := &Source{Store: st, From: base - step, To: now.UnixMilli(), Step: step}
	got, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Entity != "ns/a" || got[1].Entity != "ns/b" {
		t.Fatalf("series %+v", got)
	}
	a := got[0]
	if !reflect.DeepEqual(a.Features, []string{"cpu", "mem"}) || a.Steps() != 5 || a.Step != step {
		t.Fatalf("series a: features %v steps %d step %d", a.Features, a.Steps(), a.Step)
	}
	if !math.IsNaN(a.Values[4]) || a.Values[6] != 2 || a.Values[9] != 30 {
		t.Fatalf("values %v", a.Values)
	}
	if want := []bool{false, false, false, false, true}; !reflect.DeepEqual(a.Labels, want) {
		t.Fatalf("labels %v, want %v", a.Labels, want)
	}
	only := &Source{Store: st, Entities: []string{"ns/b"}, From: base, To: base, Step: step}
	if got, err := only.Load(context.Background()); err != nil || len(got) != 1 || got[0].Steps() != 1 {
		t.Fatalf("entity filter and range: %+v, %v", got, err)
	}
	if _, err := (&Source{Store: st, From: 0, To: 1, Step: step}).Load(context.Background()); !errors.Is(err, ErrNoData) ||
		!strings.Contains(err.Error(), "no feature data between 1970-01-01T00:00:00Z and 1970-01-01T00:00:00Z") {
		t.Fatalf("empty range: %v, want ErrNoData with RFC 3339 times", err)
	}
	empty, err := store.Open(store.Options{Path: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { empty.Close() })
	if _, err := (&Source{Store: empty, From: 0, To: 1, Step: step}).Load(context.Background()); !errors.Is(err, ErrNoData) {
		t.Fatalf("store without a schema: %v, want ErrNoData", err)
	}
	if _, err := (&Source{Store: st, From: 0, To: 1}).Load(context.Background()); err == nil {
		t.Fatal("zero step accepted")
	}
}
