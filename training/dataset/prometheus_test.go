package dataset

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	pmodel "github.com/prometheus/common/model"
)

// fakeAPI answers range queries from a table.
type fakeAPI map[string]pmodel.Matrix

func (f fakeAPI) QueryRange(_ context.Context, q string, _ v1.Range, _ ...v1.Option) (pmodel.Value, v1.Warnings, v1.Infos, error) {
	m, ok := f[q]
	if !ok {
		return nil, nil, nil, fmt.Errorf("unknown query %q", q)
	}
	return m, nil, nil, nil
}

func stream(labels pmodel.LabelSet, start time.Time, step time.Duration, vals ...float64) *pmodel.SampleStream {
	ss := &pmodel.SampleStream{Metric: pmodel.Metric(labels)}
	for i, v := range vals {
		if math.IsNaN(v) {
			continue
		}
		ss.Values = append(ss.Values, pmodel.SamplePair{Timestamp: pmodel.TimeFromUnixNano(start.Add(time.Duration(i) * step).UnixNano()), Value: pmodel.SampleValue(v)})
	}
	return ss
}

func TestPrometheusSourceFake(t *testing.T) {
	start := time.Unix(1000, 0)
	step := 15 * time.Second
	nan := math.NaN()
	api := fakeAPI{
		"cpu": {
			stream(pmodel.LabelSet{"namespace": "n", "pod": "a", "container": "x"}, start, step, 1, 2, 3, 4),
			stream(pmodel.LabelSet{"namespace": "n", "pod": "a", "container": "y"}, start, step, 10, 10, 10, 10),
			stream(pmodel.LabelSet{"namespace": "n", "pod": "b"}, start, step, 5, nan, 7, 8),
		},
		"mem":     {stream(pmodel.LabelSet{"namespace": "n", "pod": "b"}, start, step, 1, 1, 1, 1)},
		"restart": {stream(pmodel.LabelSet{"namespace": "n", "pod": "b"}, start, step, 0, 0, 0, 1), stream(pmodel.LabelSet{"namespace": "n", "pod": "zzz"}, start, step, 1)},
	}
	src := &PrometheusSource{API: api, Features: []NamedQuery{{"cpu", "cpu"}, {"mem", "mem"}}, Failures: []NamedQuery{{"restarts", "restart"}},
		EntityLabels: []string{"namespace", "pod"}, Start: start, End: start.Add(3 * step), Step: step}
	got, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Entity != "n/a" || got[1].Entity != "n/b" {
		t.Fatalf("entities %+v", got)
	}
	a, b := got[0], got[1]
	if a.Values[0] != 11 || a.Values[6] != 14 || !math.IsNaN(a.Values[1]) {
		t.Fatalf("n/a values %v (cpu summed over containers, mem missing)", a.Values)
	}
	if b.Values[0] != 5 || !math.IsNaN(b.Values[2]) || b.Values[3] != 1 {
		t.Fatalf("n/b values %v", b.Values)
	}
	if want := []bool{false, false, false, true}; !reflect.DeepEqual(b.Labels, want) {
		t.Fatalf("n/b labels %v, want %v", b.Labels, want)
	}
	if a.Step != 15000 || a.Start != 1000000 {
		t.Fatalf("grid %d/%d", a.Start, a.Step)
	}
	bad := *src
	bad.Features = []NamedQuery{{"x", "nope"}}
	if _, err := bad.Load(context.Background()); err == nil {
		t.Fatal("failing query accepted")
	}
	bad = *src
	bad.Step = 0
	if _, err := bad.Load(context.Background()); err == nil {
		t.Fatal("zero step accepted")
	}
}

// TestPrometheusSourceReal runs the Debian Prometheus (apt-get install
// prometheus) scraping itself every second and reads its own series back.
func TestPrometheusSourceReal(t *testing.T) {
	bin := "/usr/bin/prometheus"
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['%s']\n", addr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=error")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s (apt-get install prometheus): %v", bin, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	client, err := api.NewClient(api.Config{Address: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Wait for the first scrape, then for three more.
	papi := v1.NewAPI(client)
	var first time.Time
	for first.IsZero() {
		v, _, _, err := papi.Query(context.Background(), "up", time.Now())
		if err == nil {
			if vec, ok := v.(pmodel.Vector); ok && len(vec) > 0 {
				first = vec[0].Timestamp.Time()
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scrape of itself: %v %v", v, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	start := first.Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(start.Add(4 * time.Second)))
	src := &PrometheusSource{API: papi,
		Features:     []NamedQuery{{"up", "up"}, {"samples", "scrape_samples_scraped"}},
		Failures:     []NamedQuery{{"down", "up == 0"}},
		EntityLabels: []string{"job", "instance"}, Start: start, End: start.Add(3 * time.Second), Step: time.Second}
	got, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Entity != "self/"+addr || got[0].Steps() != 4 {
		t.Fatalf("series %+v", got)
	}
	s := got[0]
	seen := 0
	for i := range s.Steps() {
		if r := s.Row(i); !math.IsNaN(r[0]) {
			seen++
			if r[0] != 1 || !(r[1] > 0) {
				t.Fatalf("row %d = %v, want up=1 and samples > 0", i, r)
			}
		}
		if s.Labels[i] {
			t.Fatalf("step %d labelled failing though up == 1", i)
		}
	}
	if seen == 0 {
		t.Fatal("no samples on the grid")
	}
}
