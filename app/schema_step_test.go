package app

import (
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
