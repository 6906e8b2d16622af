package linalg

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// lstmShapes are the GEMMs of omen's LSTM (F=38, H=64, 4H=256, W=32,
// B=256): the forward input projection and recurrence and the backward
// weight and input gradients.
var lstmShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
	beta           float32
}{
	{"inproj_8192x256x38", false, false, 8192, 256, 38, 0},
	{"recur_256x256x64", false, false, 256, 256, 64, 1},
	{"recur_16x256x64", false, false, 16, 256, 64, 1},
	{"recur_1x256x64", false, false, 1, 256, 64, 1},
	{"dWx_T_38x256x8192", true, false, 38, 256, 8192, 0},
	{"dWh_T_64x256x8192", true, false, 64, 256, 8192, 0},
	{"dX_NT_8192x38x256", false, true, 8192, 38, 256, 0},
	{"dH_NT_256x64x256", false, true, 256, 64, 256, 0},
}

func BenchmarkSgemm(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	gonum := blas32.Implementation()
	for _, s := range lstmShapes {
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		a := randSlice(r, s.m*s.k)
		bb := randSlice(r, s.k*s.n)
		c := randSlice(r, s.m*s.n)
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		pb := PackB(s.transB, s.k, s.n, bb, ldb)
		report := func(b *testing.B, cpu0 time.Duration) {
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := processCPU() - cpu0; cpu > 0 {
				b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
			}
		}
		impls := []struct {
			name string
			f    func()
		}{
			{"omen", func() { Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, s.beta, c, s.n) }},
			{"omen_serial", func() { SgemmSerial(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, s.beta, c, s.n) }},
			{"omen_prepacked_serial", func() { SgemmPackedSerial(s.transA, s.m, 1, a, lda, pb, s.beta, c, s.n) }},
			{"gonum", func() {
				ta, tb := blas.NoTrans, blas.NoTrans
				if s.transA {
					ta = blas.Trans
				}
				if s.transB {
					tb = blas.Trans
				}
				gonum.Sgemm(ta, tb, s.m, s.n, s.k, 1, a, lda, bb, ldb, s.beta, c, s.n)
			}},
		}
		for _, im := range impls {
			b.Run(fmt.Sprintf("%s/%s", s.name, im.name), func(b *testing.B) {
				cpu0 := processCPU()
				for b.Loop() {
					im.f()
				}
				report(b, cpu0)
			})
		}
	}
}
