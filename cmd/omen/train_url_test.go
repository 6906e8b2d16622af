package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// TestTrainURLDaemonSettings: omen train --source store --url reads the
// history at the daemon's step and chooses the threshold for the daemon's
// alert rule. Against a daemon at a 1 s step it read the vectors at the
// built-in 15 s (10 minutes of history: 40 steps, "no entity has more
// than 42 steps") and worked only with --config.file, which the README
// calls a usage error with --url; now it is one.
func TestTrainURLDaemonSettings(t *testing.T) {
	cfg := config.Default()
	cfg.Step = pmodel.Duration(time.Second)
	cfg.Alerting.For = 3
	cfg.Alerting.ResolveFor = 2
	dir := t.TempDir()
	writeSecondHistory(t, dir, cfg, 3, 600, func(i int) bool { return i%50 > 45 }) // 10 minutes at 1 s
	_, url := startDaemonConfig(t, dir, cfg)
	out := filepath.Join(t.TempDir(), "m.omen")
	rc, stdout, stderr := omen(t, "train", "--source", "store", "--url", url, "--history", "1h", "--hidden", "4", "--epochs", "1", "--out", out)
	// 3 × (480 − 32) training windows at 1 s (the first 80 % of 600 steps);
	// at 15 s, 40 steps: too few.
	if rc != 0 || !strings.Contains(stdout, "3 entities, 1344/") || !strings.Contains(stdout, "for 3 steps, resolve 0.8× for 2 steps;") {
		t.Fatalf("train --url = %d\nstdout %s\nstderr %s\nwant 1344 training windows (the daemon's 1 s step) and the daemon's for: 3, resolve_for: 2", rc, stdout, stderr)
	}
	// The model records the daemon's step: a daemon of another one refuses it.
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Config().Step; got != time.Second {
		t.Fatalf("trained model's step %v, want the daemon's 1s", got)
	}
	if rc, _, stderr := omen(t, "train", "--source", "store", "--url", url, "--config.file", "/dev/null", "--out", out); rc != 2 || !strings.Contains(stderr, "with --url the daemon's configuration applies") {
		t.Fatalf("train --url --config.file = %d, %q; want a usage error", rc, stderr)
	}
}

// TestTrainURLDaemonPresence: omen train --source store --url leaves out
// of its windows the vectors the daemon stored only for an absent
// entity's failure label, by the daemon's presence features (its instant
// features, which it serves with its settings), as it does offline. The
// daemon here reads memory_working_set_bytes over a range, so a vector
// with only that and range features is an absent entity's; the built-in
// configuration's instant memory_working_set_bytes would make it a row.
// It set no presence features with --url: every such vector was a row.
func TestTrainURLDaemonPresence(t *testing.T) {
	cfg, presence := rangeMemoryConfig(t)
	dir := t.TempDir()
	writeAbsentHistory(t, dir, cfg, presence, (*store.Store).PutSchema)
	_, url := startDaemonConfig(t, dir, cfg)
	out := filepath.Join(t.TempDir(), "m.omen")
	rc, stdout, stderr := omen(t, "train", "--source", "store", "--url", url, "--history", "1h", "--hidden", "4", "--epochs", "1", "--out", out)
	// The training part is steps 0-479 of each pod, born at step 0 (its
	// window scored from step 32), absent at 100-199 (its window starts
	// afresh at 200, scored from 232): the windows ending at 100-230 are
	// neither scored nor forecast, 448 − 131 = 317 a pod. With every
	// vector a row: 448.
	if rc != 0 || !strings.Contains(stdout, "3 entities, 951/") {
		t.Fatalf("train --url = %d\nstdout %s\nstderr %s\nwant 951 training windows (the daemon's presence features)", rc, stdout, stderr)
	}
	if strings.Contains(stderr, "does not say which features") {
		t.Errorf("warning of a daemon that says its presence features:\n%s", stderr)
	}
}

// TestTrainURLDaemonCritical: omen train --url compares the model's
// failure threshold with the daemon's alerting.critical_probability,
// which the daemon serves with its settings, not with the local built-in
// 0.9 it compared with before. One of the two cases fails with the local
// value whatever the threshold: 1 when it is 0.9 or more, 0.0001 below.
func TestTrainURLDaemonCritical(t *testing.T) {
	cfg := config.Default()
	dir := t.TempDir()
	writeHistory(t, dir, features.Names(cfg.Config), cfg.LabelNames())
	for _, tc := range []struct {
		critical float64
		warn     bool
	}{
		{1, false},
		{0.0001, true},
	} {
		t.Run(fmt.Sprint(tc.critical), func(t *testing.T) {
			c := config.Default()
			c.Alerting.CriticalProbability = tc.critical
			_, url := startDaemonConfig(t, dir, c)
			rc, stdout, stderr := omen(t, "train", "--source", "store", "--url", url, "--history", "2h", "--hidden", "2", "--epochs", "1", "--out", filepath.Join(t.TempDir(), "m.omen"))
			got := strings.Contains(stderr, fmt.Sprintf("is at or above alerting.critical_probability %g: every alert it fires is critical", tc.critical))
			if rc != 0 || got != tc.warn || strings.Contains(stderr, "never alerts") {
				t.Errorf("daemon critical_probability %g: train --url = %d, warning %v, want %v\nstdout %s\nstderr %s", tc.critical, rc, got, tc.warn, stdout, stderr)
			}
		})
	}
}

// TestTrainURLDaemonCriticalUnset: with the daemon's
// alerting.critical_probability unset (left out of its settings, not 0),
// omen train --url follows the model's critical probability, as the
// daemon does, and gives no severity warning.
func TestTrainURLDaemonCriticalUnset(t *testing.T) {
	cfg := config.Default()
	dir := t.TempDir()
	writeHistory(t, dir, features.Names(cfg.Config), cfg.LabelNames())
	_, url := startDaemonConfig(t, dir, config.Default())
	rc, stdout, stderr := omen(t, "train", "--source", "store", "--url", url, "--history", "2h", "--hidden", "2", "--epochs", "1", "--out", filepath.Join(t.TempDir(), "m.omen"))
	if rc != 0 || strings.Contains(stderr, "alerting.critical_probability") || !strings.Contains(stdout, "critical from p=") {
		t.Errorf("daemon critical_probability unset: train --url = %d, want the model's critical probability and no warning\nstdout %s\nstderr %s", rc, stdout, stderr)
	}
}

// writeSecondHistory writes to the store at dir/badger cfg's schema and
// the vectors of pods pods (shop/pod-0 …), n steps each at 1 s ending now,
// their failure label set at the steps failing says.
func writeSecondHistory(t *testing.T, dir string, cfg *config.Config, pods, n int, failing func(i int) bool) {
	t.Helper()
	names, labels := features.Names(cfg.Config), cfg.LabelNames()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger")})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSchema(names, labels); err != nil {
		t.Fatal(err)
	}
	end := time.Now().UnixMilli() / 1000 * 1000
	var vs []store.Vector
	for p := range pods {
		id := fmt.Sprintf("shop/pod-%d", p)
		for i := range n {
			v := store.Vector{Entity: id, T: end - int64(n-i)*1000, Values: make([]float64, len(names)), Failure: make([]bool, len(labels))}
			for j := range v.Values {
				v.Values[j] = math.Sin(float64(i+j+p)/7) + float64(j)
			}
			v.Failure[0] = failing(i)
			vs = append(vs, v)
		}
		if err := st.PutEntity(id, map[string]string{"namespace": "shop", "pod": fmt.Sprintf("pod-%d", p)}, end-int64(n)*1000); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutVectors(vs); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
