package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestPredictionsRangePages: a range query of predictions without a limit
// lists at most RangeLimit (it listed every prediction: 7,946 rows, 2.7 MB
// in a few minutes of the demo), says it was cut in warnings, and the
// after= the warning names pages through the rest: every prediction once,
// in the API's order; the last page has no warning.
func TestPredictionsRangePages(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	const t0 = int64(1764000000000)
	entities := []string{"a/x", "b/y", "c/z"}
	const perEntity = 7
	for _, id := range entities {
		if err := st.PutEntity(id, map[string]string{"namespace": id[:1]}, t0); err != nil {
			t.Fatal(err)
		}
		ps := make([]store.Prediction, perEntity)
		for k := range ps {
			ps[k] = store.Prediction{Entity: id, T: t0 - int64(k)*15000, Prob: 0.5, ModelVersion: "v1"}
		}
		if err := st.PutPredictions(ps); err != nil {
			t.Fatal(err)
		}
	}
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, b, api.Options{RangeLimit: 4, MaxLimit: 6})
	type page struct {
		Data     []api.Prediction `json:"data"`
		Warnings []string         `json:"warnings"`
	}
	fetch := func(q string) page {
		t.Helper()
		code, body := get(t, "GET", srv.URL+"/api/v1/predictions?"+q, "")
		var p page
		if code != 200 || json.Unmarshal(body, &p) != nil {
			t.Fatalf("%s: %d %s", q, code, body)
		}
		return p
	}
	var all []string
	q := "from=0"
	for n := 0; ; n++ {
		p := fetch(q)
		if len(p.Data) > 4 {
			t.Fatalf("page %d (%s): %d predictions, want at most the range limit 4", n, q, len(p.Data))
		}
		for _, x := range p.Data {
			all = append(all, x.ID)
		}
		if len(p.Warnings) == 0 {
			break
		}
		i := strings.Index(p.Warnings[0], "after=")
		if i < 0 || len(p.Data) != 4 {
			t.Fatalf("page %d: %d predictions, warnings %q", n, len(p.Data), p.Warnings)
		}
		after := strings.Fields(p.Warnings[0][i+len("after="):])[0]
		if after != p.Data[len(p.Data)-1].ID {
			t.Fatalf("page %d: next page after %s, want the last listed %s", n, after, p.Data[len(p.Data)-1].ID)
		}
		q = "from=0&after=" + url.QueryEscape(after)
		if n > 10 {
			t.Fatal("no end of pages")
		}
	}
	var want []string
	for _, id := range entities {
		for k := range perEntity {
			want = append(want, store.PredictionID(id, t0-int64(k)*15000))
		}
	}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Errorf("pages listed\n%v\nwant\n%v", all, want)
	}
	// An explicit limit up to MaxLimit; the latest predictions (no range)
	// are not cut by the range limit.
	if p := fetch("from=0&limit=100"); len(p.Data) != 6 || len(p.Warnings) != 1 {
		t.Errorf("limit 100 (max 6): %d predictions, warnings %q", len(p.Data), p.Warnings)
	}
	if p := fetch("from=0&limit=21"); len(p.Data) != 6 {
		t.Errorf("limit 21 (max 6): %d predictions", len(p.Data))
	}
	if p := fetch(""); len(p.Data) != 3 || len(p.Warnings) != 0 {
		t.Errorf("latest: %d predictions, warnings %q; want 3, none", len(p.Data), p.Warnings)
	}
	if code, body := get(t, "GET", srv.URL+"/api/v1/predictions?from=0&after=nope", ""); code != 400 {
		t.Errorf("after=nope: %d %s, want 400", code, body)
	}
}
