package model

import (
	"testing"

	"go.uber.org/goleak"
)

// Batch calls and training start worker goroutines; none may outlive them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
