package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/omen-sre/omen/api"
)

// TestEntityIDsWithEscapes: entity IDs of label values holding "/" (a
// value's "/" is "%2F" in the ID, its "%" "%25") reach the backend intact
// through the entity paths the links use (ExplainPath, DependenciesPath:
// url.PathEscape) and the entity= parameter, and the two IDs that once
// were one ("col/x/y") stay apart.
func TestEntityIDsWithEscapes(t *testing.T) {
	ids := []string{"col%2Fx/y", "col/x%2Fy", "a%252Fb/c", "shop/cart-0"}
	var mu sync.Mutex
	var explained []string
	b := &api.MemBackend{Explain: func(_ context.Context, entity string) (api.Explanation, error) {
		mu.Lock()
		defer mu.Unlock()
		explained = append(explained, entity)
		return api.Explanation{Entity: entity, PredictionID: entity + "@1"}, nil
	}}
	for i, id := range ids {
		b.PredictionList = append(b.PredictionList, api.Prediction{ID: id + "@1", Entity: id, T: 1, Probability: float64(i) / 10})
	}
	srv := newServer(t, b, api.Options{})
	for _, id := range ids {
		if code, body := get(t, "POST", srv.URL+api.ExplainPath(id), ""); code != 200 {
			t.Errorf("POST %s: %d %s", api.ExplainPath(id), code, body)
		}
		code, body := get(t, "GET", srv.URL+"/api/v1/predictions?entity="+url.QueryEscape(id), "")
		var env struct {
			Data []api.Prediction `json:"data"`
		}
		if err := json.Unmarshal(body, &env); code != 200 || err != nil {
			t.Fatalf("predictions of %q: %d %v %s", id, code, err, body)
		}
		if len(env.Data) != 1 || env.Data[0].Entity != id {
			t.Errorf("predictions?entity=%s: %+v, want the one of %q", url.QueryEscape(id), env.Data, id)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(explained, ids) {
		t.Errorf("explained %q, want %q", explained, ids)
	}
}
