package store

import (
	"testing"
	"time"
)

// TestPutSchemaStep: the schema records the daemon's step (offline
// commands check models by it); a changed step is a new version, the same
// one is not, and PutSchema records none.
func TestPutSchemaStep(t *testing.T) {
	s := openTestMem(t)
	if err := s.PutSchemaStep([]string{"a"}, []string{"l"}, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSchemaStep([]string{"a"}, []string{"l"}, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if sc, err := s.Schema(); err != nil || sc.Version != 1 || sc.StepMS != 15000 {
		t.Fatalf("schema %+v, %v; want version 1 at 15000 ms", sc, err)
	}
	if err := s.PutSchemaStep([]string{"a"}, []string{"l"}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if sc, err := s.Schema(); err != nil || sc.Version != 2 || sc.StepMS != 30000 {
		t.Fatalf("schema %+v, %v; want version 2 at 30000 ms", sc, err)
	}
	if err := s.PutSchema([]string{"a"}, []string{"l"}); err != nil {
		t.Fatal(err)
	}
	if sc, err := s.Schema(); err != nil || sc.Version != 3 || sc.StepMS != 0 {
		t.Fatalf("schema %+v, %v; want version 3 without a step", sc, err)
	}
}
