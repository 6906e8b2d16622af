package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// entitiesOnly hides the store's EntitiesAfter (a method of another
// signature shadows it): the handler cuts the pages from the whole list,
// as for a HistoryReader without pages.
type entitiesOnly struct{ *store.Store }

func (entitiesOnly) EntitiesAfter() {}

// TestHistoryEntitiesLimit: /api/v1/history/entities ignored limit and
// answered every entity (150,100 after pod churn: 19 MB) whatever the
// API's documented limit. It now lists at most limit (default the API's
// MaxLimit), says a cut list is cut in a warning naming the after= of
// the next page, and the history client (omen train --url) follows the
// pages to read every entity.
func TestHistoryEntitiesLimit(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	const n = 25
	var want []string
	for i := range n {
		id := fmt.Sprintf("ns/pod-%02d", i)
		want = append(want, id)
		if err := st.PutEntity(id, map[string]string{"pod": id[3:]}, 1000); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []struct {
		name string
		r    api.HistoryReader
	}{{"store", st}, {"entities only", entitiesOnly{st}}} {
		t.Run(h.name, func(t *testing.T) {
			srv := newServer(t, &api.MemBackend{}, api.Options{History: h.r, MaxLimit: 10})
			for _, tc := range []struct {
				query   string
				from, m int // want[from:from+m]
				next    string
			}{
				{"", 0, 10, "ns/pod-09"},
				{"?limit=3", 0, 3, "ns/pod-02"},
				{"?limit=3&after=ns/pod-02", 3, 3, "ns/pod-05"},
				{"?limit=100&after=ns/pod-19", 20, 5, ""},
				{"?limit=5&after=ns/pod-19", 20, 5, ""},
				{"?after=ns/pod-0", 0, 10, "ns/pod-09"}, // not an entity: those after it
				{"?after=ns/pod-24", 0, 0, ""},
			} {
				code, body := get(t, http.MethodGet, srv.URL+api.HistoryEntitiesPath+tc.query, "")
				if code != http.StatusOK {
					t.Fatalf("%s: %d %s", tc.query, code, body)
				}
				var r struct {
					Data     []api.HistoryEntity `json:"data"`
					Warnings []string            `json:"warnings"`
				}
				if err := json.Unmarshal(body, &r); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range r.Data {
					got = append(got, e.ID)
				}
				if w := want[tc.from : tc.from+tc.m]; len(got) != len(w) || len(w) > 0 && !reflect.DeepEqual(got, w) {
					t.Errorf("%s: %v, want %v", tc.query, got, w)
				}
				if tc.next == "" && len(r.Warnings) > 0 || tc.next != "" && (len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "after="+tc.next)) {
					t.Errorf("%s: warnings %q, want the next page after=%q", tc.query, r.Warnings, tc.next)
				}
			}
			if code, body := get(t, http.MethodGet, srv.URL+api.HistoryEntitiesPath+"?limit=0", ""); code != http.StatusBadRequest {
				t.Errorf("limit=0: %d %s, want 400", code, body)
			}
			// The history client reads all the pages.
			es, err := api.HistoryClient{Client: &api.Client{URL: srv.URL}}.Entities(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.ID)
				if e.Labels["pod"] != e.ID[3:] || e.LastSeen != 1000 {
					t.Errorf("%s: %+v", e.ID, e)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("history client: %v, want %v", got, want)
			}
		})
	}
}
