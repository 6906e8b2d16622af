package app

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStartRecordsStep: the daemon records its step with the schema, so
// that offline omen model commands without --config.file check models
// against it (a model of another step was promoted offline unchecked).
func TestStartRecordsStep(t *testing.T) {
	a := startApp(t, t.TempDir(), nil)
	sc, err := a.Store().Schema()
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Duration(a.Config().Step).Milliseconds(); sc.StepMS != want || want == 0 {
		t.Fatalf("schema records step %d ms, want the daemon's %d", sc.StepMS, want)
	}
}

// TestSchemaRecordsPresence: the daemon records its presence features
// (PresenceFeatures) with its schema at start and again at a reload that
// changes them, also when the feature names stay the same (mem_avg read
// at an instant, no longer over a range), so that offline omen train
// reads the windows the daemon scores. The schema recorded no presence
// features: offline training used the local configuration's.
func TestSchemaRecordsPresence(t *testing.T) {
	file, write := configFileWriter(t)
	write(testConfigYAML)
	a := startApp(t, t.TempDir(), func(o *Options) { o.Config, o.ConfigFile = nil, file })
	start, err := a.Store().Schema()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mem_ratio"} // the instant one
	if !slices.Equal(start.Presence, want) || !slices.Equal(PresenceFeatures(testConfig(t)), want) {
		t.Fatalf("schema at start records presence features %q (configuration's %q), want %q", start.Presence, PresenceFeatures(testConfig(t)), want)
	}
	instant := strings.Replace(testConfigYAML, "(avg_over_time(container_memory_working_set_bytes[20s]))", "(container_memory_working_set_bytes)", 1)
	if instant == testConfigYAML {
		t.Fatal("mem_avg's expression not found in testConfigYAML")
	}
	write(instant)
	if err := a.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	sc, err := a.Store().Schema()
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"mem_ratio", "mem_avg"}
	if !slices.Equal(sc.Presence, want) || sc.Version != start.Version+1 || !slices.Equal(sc.Features, start.Features) {
		t.Fatalf("schema after the reload: version %d, features %q, presence %q; want version %d, the same features, presence %q",
			sc.Version, sc.Features, sc.Presence, start.Version+1, want)
	}
}
