package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/config"
)

// TestTrainURLNoFailureNamesDaemon: omen train --source store --url on a
// daemon whose history holds no failure warns that the failure labels of
// the daemon (its configuration's, which the stored vectors were labelled
// by) match no step; it named "the built-in configuration", this
// command's, which the daemon's store does not use.
func TestTrainURLNoFailureNamesDaemon(t *testing.T) {
	cfg := config.Default()
	cfg.Step = pmodel.Duration(time.Second)
	dir := t.TempDir()
	writeSecondHistory(t, dir, cfg, 2, 300, func(int) bool { return false }) // 5 minutes at 1 s, no failure
	_, url := startDaemonConfig(t, dir, cfg)
	out := filepath.Join(t.TempDir(), "m.omen")
	rc, stdout, stderr := omen(t, "train", "--source", "store", "--url", url, "--history", "1h", "--hidden", "4", "--epochs", "1", "--out", out)
	want := "omen train: warning: the training history holds no failure: the failure labels (labels: of the daemon at " + url + ") match no step of it; "
	if rc != 0 || !strings.Contains(stderr, want) || strings.Contains(stderr, "built-in configuration") {
		t.Fatalf("train --url on a history without failures = %d\nstdout %s\nstderr %s\nwant the warning %q, naming the daemon's labels", rc, stdout, stderr, want)
	}
}
