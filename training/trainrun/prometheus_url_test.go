package trainrun

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/training"
)

// TestTrainPrometheusURLPasswordNotRecorded: a model trained from a
// Prometheus URL with a password, or a token in its query string, records
// the URL (its trained_on, which the model list and the daemon's model
// log show) with the password and the query's values hidden. It recorded
// the password, then the token.
func TestTrainPrometheusURLPasswordNotRecorded(t *testing.T) {
	// Every range query: three pods, a sine, pod-0 failing now and then.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
		end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
		step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
		var result []map[string]any
		for p, pod := range []string{"pod-0", "pod-1", "pod-2"} {
			var vals [][2]any
			for i, ts := 0, start; ts <= end; i, ts = i+1, ts+step {
				v := math.Sin(float64(i+p)/7) + 1
				if strings.Contains(r.Form.Get("query"), "waiting_reason") {
					v = 0
					if p == 0 && i%97 > 90 {
						v = 1
					}
				}
				vals = append(vals, [2]any{ts, strconv.FormatFloat(v, 'g', -1, 64)})
			}
			result = append(result, map[string]any{"metric": map[string]string{"namespace": "shop", "pod": pod}, "values": vals})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix", "result": result}})
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct{ url, want string }{
		{url: "http://omen:s3cretpw@" + host, want: "prometheus:http://omen:xxxxx@" + host},
		{url: srv.URL + "/?access_token=s3cretpw", want: "prometheus:" + srv.URL + "/?access_token=xxxxx"},
	} {
		res, err := Train(context.Background(), Options{
			Source: "prometheus", PrometheusURL: tc.url, Config: config.Default(),
			History: 2 * time.Hour, Now: time.Unix(1700000000, 0),
			Train:  training.TrainOptions{Window: 4, Horizon: 2, Hidden: 4, Layers: 1, Epochs: 1, Members: 1, Seed: 1},
			Notice: func(string) {},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = res.Close() })
		if got := res.Model.Meta().TrainedOn; got != tc.want {
			t.Errorf("trained_on %q, want %q", got, tc.want)
		}
	}
}
