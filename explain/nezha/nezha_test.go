package nezha

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shippedDay is the Nezha day in the shared data sets beside the
// repository (CI lays shared/ next to the checkout).
var shippedDay = func() string {
	rel := filepath.Join("..", "..", "..", "shared", "datasets", "nezha", "2022-08-22")
	if _, err := os.Stat(rel); err == nil {
		return rel
	}
	return "/work/shared/datasets/nezha/2022-08-22"
}()

func TestServiceOf(t *testing.T) {
	for pod, want := range map[string]string{
		"cartservice-579f59597d-wc2lz":    "cartservice",
		"ts-auth-service-7d8b8f8d9-abcde": "ts-auth-service",
		"redis":                           "redis",
		"a-b":                             "a-b",
	} {
		if got := ServiceOf(pod); got != want {
			t.Errorf("ServiceOf(%q) = %q, want %q", pod, got, want)
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2022-08-22 03:51:19.799087274 +0000 UTC m=+0.305041286", 1661140279, true},
		{"2022-08-22 03:51:19 +0000 UTC", 1661140279, true},
		{"2022-08-22 05:51:19.5 +0200 CEST", 1661140279, true},
		{"2022-08-22", 0, false},
		{"yesterday noon", 0, false},
	}
	for _, tc := range tests {
		got, err := parseTime(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseTime(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	f.Add("2022-08-22 03:51:19.799087274 +0000 UTC m=+0.305041286")
	f.Add("2022-08-22 03:51:19 -0700")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := parseTime(s); err != nil && !strings.Contains(err.Error(), "time") {
			t.Errorf("error without context: %v", err)
		}
	})
}

// writeGz writes content gzip-compressed to path.
func writeGz(t *testing.T, path, content string) {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// syntheticDay writes a day folder without dependency.csv: three services,
// one pod each, 90 minutes of noisy minute samples, and a CPU fault on
// faulty at minute 60.
func syntheticDay(t *testing.T, faulty string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "metric"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2022, 8, 22, 3, 0, 19, 0, time.UTC)
	inject := start.Add(60*time.Minute + 30*time.Second)
	faults := map[string][]map[string]string{"04": {{
		"inject_time": inject.Format(time.DateTime), "inject_timestamp": fmt.Sprint(inject.Unix()),
		"inject_pod": faulty + "-5f6585d649-fnmft", "inject_type": "cpu_contention",
	}}}
	b, _ := json.Marshal(faults)
	if err := os.WriteFile(filepath.Join(dir, "fault_list.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root_cause.json"), []byte(`{"`+faulty+`":{"cpu_contention":"CpuUsageRate(%)"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for k, svc := range []string{"alpha", "beta", "gamma"} {
		pod := svc + "-5f6585d649-fnmft"
		var sb strings.Builder
		sb.WriteString("Time,TimeStamp,PodName,CpuUsageRate(%),MemoryUsage(Mi),PodServerLatencyP90(s),NodeCpuUsageRate(%)\n")
		for m := 0; m < 90; m++ {
			ts := start.Add(time.Duration(m) * time.Minute)
			cpu := 20 + float64((m*7+k*3)%5)
			lat := 0.1 + 0.01*float64((m*3+k)%4)
			node := 30 + float64(m%3)
			if m >= 61 && m <= 63 {
				node = 95 // node metrics are shared, not evidence
				if svc == faulty {
					cpu = 99
					lat = 0.2
				}
			}
			fmt.Fprintf(&sb, "%s +0000 UTC m=+%d.0,%d,%s,%g,%g,%g,%g\n", ts.Format("2006-01-02 15:04:05.000000000"), m*60, ts.Unix()+999, pod, cpu, 50.0, lat, node)
		}
		name := filepath.Join(dir, "metric", pod+"_metric.csv")
		if k == 0 {
			if err := os.WriteFile(name, []byte(sb.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			writeGz(t, name+".gz", sb.String())
		}
	}
	return dir
}

func TestEvalRCASyntheticWithoutDependency(t *testing.T) {
	for _, faulty := range []string{"alpha", "gamma"} {
		t.Run(faulty, func(t *testing.T) {
			dir := syntheticDay(t, faulty)
			rep, err := EvalRCA(context.Background(), dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Graph != GraphNone || rep.Faults != 1 {
				t.Errorf("graph %q faults %d", rep.Graph, rep.Faults)
			}
			f := rep.PerFault[0]
			if rep.AC1 != 1 || f.Ranked[0].Service != faulty || f.TopMetric != "cpu" || rep.MetricAC1 != 1 {
				t.Errorf("report %+v", rep)
			}
			if _, err := EvalRCA(context.Background(), dir, Options{Graph: GraphFile}); err == nil {
				t.Error("graph mode file accepted without dependency.csv")
			}
			rep, err = EvalRCA(context.Background(), dir, Options{Graph: GraphLearned})
			if err != nil || rep.PerFault[0].Ranked[0].Service != faulty {
				t.Errorf("learned graph: %v %+v", err, rep.PerFault)
			}
		})
	}
}

func TestEvalRCAErrors(t *testing.T) {
	if _, err := EvalRCA(context.Background(), t.TempDir(), Options{}); err == nil {
		t.Error("empty folder accepted")
	}
	if _, err := EvalRCA(context.Background(), t.TempDir(), Options{Graph: "psychic"}); err == nil {
		t.Error("unknown graph mode accepted")
	}
}

// TestEvalRCASmoke runs three faults of the shipped Online Boutique day.
func TestEvalRCASmoke(t *testing.T) {
	day, err := LoadDay(shippedDay)
	if err != nil {
		t.Fatal(err)
	}
	if len(day.Faults) != 24 || len(day.Pods) != 10 || len(day.Edges) == 0 || len(day.Calls) != 2 || day.Front == nil {
		t.Fatalf("loaded %d faults, %d pods, %d edges, %d call files", len(day.Faults), len(day.Pods), len(day.Edges), len(day.Calls))
	}
	var pick []Fault
	for _, f := range day.Faults {
		if f.Type == "cpu_contention" && (strings.HasPrefix(f.Pod, "emailservice") || strings.HasPrefix(f.Pod, "paymentservice") || strings.HasPrefix(f.Pod, "shippingservice")) {
			pick = append(pick, f)
		}
	}
	// Keep all faults for baseline exclusion but score only three.
	o := Options{}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	sub := *day
	sub.Faults = pick
	rep, err := evalDay(context.Background(), shippedDay, &sub, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Faults != 3 || rep.AC1 != 1 || rep.Graph != GraphFile {
		t.Errorf("smoke: %+v", rep)
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"faults"`, `"ac1"`, `"ac3"`, `"ac5"`, `"avg5"`, `"metric_ac1"`, `"per_fault"`, `"inject_pod"`, `"inject_type"`, `"ranked"`} {
		if !bytes.Contains(js, []byte(key)) {
			t.Errorf("report JSON lacks %s", key)
		}
	}
}

// TestEvalRCAShippedDay guards the measured figures of the whole day.
func TestEvalRCAShippedDay(t *testing.T) {
	rep, err := EvalRCA(context.Background(), shippedDay, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("faults=%d ac1=%.3f ac3=%.3f ac5=%.3f avg5=%.3f metric_ac1=%.3f", rep.Faults, rep.AC1, rep.AC3, rep.AC5, rep.Avg5, rep.MetricAC1)
	if rep.Faults != 24 || rep.AC1 < 0.95 || rep.AC3 < 0.97 || rep.Avg5 < 0.95 {
		t.Errorf("regression: %+v", rep)
	}
	// Pod metrics alone, no call graph (what a Train-Ticket-like folder
	// without dependency.csv, edge latencies or front-service SLIs gives).
	rep, err = EvalRCA(context.Background(), shippedDay, Options{Graph: GraphNone, NoCallLatency: true, NoFront: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pod metrics only: ac1=%.3f ac3=%.3f avg5=%.3f", rep.AC1, rep.AC3, rep.Avg5)
	if rep.AC1 < 0.55 || rep.AC3 < 0.7 {
		t.Errorf("pod-only regression: %+v", rep)
	}
}

func FuzzLoadSeries(f *testing.F) {
	f.Add([]byte("Time,TimeStamp,PodName,CpuUsageRate(%)\n2022-08-22 03:51:19.79 +0000 UTC m=+0.3,1,p-a-b,5\n"))
	f.Add([]byte("time,timestamp,a_b\n2022-08-22 03:51:20 +0000 UTC,1,0.004\n2022-08-22 03:50:20 +0000 UTC,1,x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "p_metric.csv")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := loadSeries(path)
		if err != nil {
			return
		}
		for c := range s.Values {
			if len(s.Values[c]) != len(s.Times) {
				t.Fatalf("column %d has %d values for %d times", c, len(s.Values[c]), len(s.Times))
			}
		}
		for i := 1; i < len(s.Times); i++ {
			if s.Times[i] < s.Times[i-1] {
				t.Fatal("times not sorted")
			}
		}
	})
}
