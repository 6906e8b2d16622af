package linalg

import (
	"math/rand/v2"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (Sgemm starts and
// joins worker goroutines).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSgemmConcurrent runs parallel and serial GEMMs from several
// goroutines at once; each must match its own serial result exactly, since
// the split does not change the order of any sum (with beta = 0 the edge
// and full tiles also round alike).
func TestSgemmConcurrent(t *testing.T) {
	const m, n, k = 300, 200, 150
	r := rand.New(rand.NewPCG(21, 22))
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want := make([]float32, m*n)
	SgemmSerial(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := make([]float32, m*n)
			for range 5 {
				if g%2 == 0 {
					Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				} else {
					SgemmSerial(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				}
				for i := range c {
					if c[i] != want[i] {
						errs <- "mismatch"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
