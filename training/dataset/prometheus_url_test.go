package dataset

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// A query error names the server's URL, its password hidden, and a 404
// says the URL's path looks wrong: it said only "query_range cpu (…):
// client_error: client error: 404".
func TestPrometheusSourceQueryErrorURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	u := strings.Replace(srv.URL, "http://", "http://u:s3cretpw@", 1) + "/wrong"
	client, err := api.NewClient(api.Config{Address: u})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1700000000, 0)
	src := &PrometheusSource{API: v1.NewAPI(client), URL: u, Features: []NamedQuery{{"cpu", "cpu"}}, EntityLabels: []string{"pod"},
		Start: start, End: start.Add(time.Hour), Step: time.Minute}
	_, err = src.Load(context.Background())
	want := `query_range cpu ("cpu"): prometheus http://u:xxxxx@` + strings.TrimPrefix(srv.URL, "http://") + "/wrong: client_error: client error: 404 (404 Not Found: the URL's path looks wrong;"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cretpw") {
		t.Fatalf("Load = %v, want %q, the password hidden", err, want)
	}
}
