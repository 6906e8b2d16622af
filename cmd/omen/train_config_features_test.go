package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// writeTwoSchemas writes a store at dir whose history is 100 minutes of
// vectors of features a, b, c, d (schema version 1) then 100 minutes of
// c, e (version 2, the current: a reload), at 30s.
func writeTwoSchemas(t *testing.T, dir string) {
	t.Helper()
	const step = 30 * time.Second
	labels := config.Default().LabelNames()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger")})
	if err != nil {
		t.Fatal(err)
	}
	ms := step.Milliseconds()
	n := int((100 * time.Minute).Milliseconds() / ms)
	start := (time.Now().UnixMilli()/ms)*ms - int64(2*n)*ms
	for k, names := range [][]string{{"a", "b", "c", "d"}, {"c", "e"}} {
		if err := st.PutSchemaStep(names, labels, step); err != nil {
			t.Fatal(err)
		}
		var vs []store.Vector
		for p := range 3 {
			id := fmt.Sprintf("shop/pod-%d", p)
			if k == 0 {
				if err := st.PutEntity(id, map[string]string{"namespace": "shop", "pod": fmt.Sprintf("pod-%d", p)}, start); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				i += k * n
				v := store.Vector{Entity: id, T: start + int64(i)*ms, Values: make([]float64, len(names)), Failure: make([]bool, len(labels))}
				for j := range v.Values {
					v.Values[j] = math.Sin(float64(i+j+p)/7) + float64(j)
				}
				v.Failure[0] = p == 0 && i%97 > 90
				vs = append(vs, v)
			}
		}
		if err := st.PutVectors(vs); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTrainOfflineConfigFeatures: offline omen train --source store
// --config.file FILE trains a model of FILE's features, in FILE's order,
// the stored vectors of every schema version mapped into them by name,
// so that --promote (checked against FILE) takes it. It trained on the
// store's current features (c, e) and --promote then refused its own
// model (reviewer's finding). A FILE naming a feature no stored schema
// has is refused before any training, and no model file is written.
func TestTrainOfflineConfigFeatures(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	writeTwoSchemas(t, dir)
	yml := func(names ...string) string {
		var b strings.Builder
		b.WriteString("step: 30s\nfeatures:\n")
		for _, n := range names {
			fmt.Fprintf(&b, "  - {name: %s, expr: 'sum by (namespace, pod) (up)'}\n", n)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name   string
		config string // "": no --config.file
		want   []string
		errs   string // in stderr
	}{
		{name: "no config: the current schema's", want: []string{"c", "e"}},
		{name: "older features, another order", config: yml("b", "a"), want: []string{"b", "a"},
			errs: "omen train: the history is read into the 2 features of c.yml, mapped by name from the store's (the daemon's last: 2 features); not in c.yml, not read: c, e\n"},
		{name: "both versions'", config: yml("e", "c", "a"), want: []string{"e", "c", "a"}},
		{name: "the current ones", config: yml("c", "e"), want: []string{"c", "e"}},
		{name: "a feature never stored", config: yml("a", "zz", "yy"),
			errs: `omen train: c.yml names features "zz", "yy" that no feature schema the store at ` + dir + ` records has: its history holds no value of them (the store's current features: "c", "e"); nothing trained`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove("m.omen")
			args := []string{"train", "--source", "store", "--storage.path", dir, "--history", "5h", "--window", "4",
				"--horizon", "2", "--hidden", "4", "--epochs", "1", "--out", "m.omen", "--promote"}
			if tc.config != "" {
				if err := os.WriteFile("c.yml", []byte(tc.config), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config.file", "c.yml")
			}
			rc, out, errs := omen(t, args...)
			if !strings.Contains(errs, tc.errs) {
				t.Errorf("stderr %s\nwant %q", errs, tc.errs)
			}
			if tc.want == nil {
				if rc != 1 || strings.Contains(errs, "epoch") {
					t.Errorf("train = %d, want 1 before training\nstdout %s\nstderr %s", rc, out, errs)
				}
				if _, err := os.Stat("m.omen"); err == nil {
					t.Error("model file written")
				}
				return
			}
			if rc != 0 || !strings.Contains(out, "promoted ") {
				t.Fatalf("train = %d\nstdout %s\nstderr %s", rc, out, errs)
			}
			data, err := os.ReadFile("m.omen")
			if err != nil {
				t.Fatal(err)
			}
			m, err := model.Unmarshal(data)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Config().Features; !slices.Equal(got, tc.want) {
				t.Errorf("model features %q, want %q", got, tc.want)
			}
		})
	}
}
