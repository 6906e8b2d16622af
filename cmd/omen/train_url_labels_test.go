package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
)

// TestTrainURLNoFailureNamesDaemon: omen train --source store --url on a
// daemon whose history holds no failure warns that the failure labels of
// the daemon (its configuration's, which the stored vectors were labelled
// by) match no step; it named "the built-in configuration", this
// command's, which the daemon's store does not use.
func TestTrainURLNoFailureNamesDaemon(t *testing.T) {
	cfg := config.Default()
	cfg.Step = pmodel.Duration(time.Second)
	names, labels := features.Names(cfg.Config), cfg.LabelNames()
	dir := t.TempDir()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger")})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSchema(names, labels); err != nil {
		t.Fatal(err)
	}
	end := time.Now().UnixMilli() / 1000 * 1000
	const n = 300 // 5 minutes at 1 s
	var vs []store.Vector
	for p := range 2 {
		id := fmt.Sprintf("shop/pod-%d", p)
		for i := range n {
			v := store.Vector{Entity: id, T: end - int64(n-i)*1000, Values: make([]float64, len(names)), Failure: make([]bool, len(labels))}
			for j := range v.Values {
				v.Values[j] = math.Sin(float64(i+j+p)/7) + float64(j)
			}
			vs = append(vs, v) // no failure
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
	_, url := startDaemonConfig(t, dir, cfg)
	out := filepath.Join(t.TempDir(), "m.omen")
	rc, stdout, stderr := omen(t, "train", "--source", "store", "--url", url, "--history", "1h", "--hidden", "4", "--epochs", "1", "--out", out)
	want := "omen train: warning: the training history holds no failure: the failure labels (labels: of the daemon at " + url + ") match no step of it; "
	if rc != 0 || !strings.Contains(stderr, want) || strings.Contains(stderr, "built-in configuration") {
		t.Fatalf("train --url on a history without failures = %d\nstdout %s\nstderr %s\nwant the warning %q, naming the daemon's labels", rc, stdout, stderr, want)
	}
}
