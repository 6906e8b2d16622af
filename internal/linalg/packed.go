package linalg

import (
	"runtime"
	"sync"
)

// PackedB is a k×n right-hand GEMM operand (op(B)) packed once into the
// micro-kernel's panel layout, for operands used many times, such as the
// recurrent weights of an LSTM, which are multiplied at every time step but
// change only once per optimiser step. A PackedB is immutable after PackB
// and safe for concurrent use; after the source matrix changes, pack it
// again (Repack reuses the memory).
type PackedB struct {
	k, n   int
	blocks [][]float32 // [jc/nc · ⌈k/kc⌉ + pc/kc]
}

// PackB packs op(B) (B is k×n, or n×k when transB, row-major with leading
// dimension ldb) for SgemmPacked. Panics on bad sizes like Sgemm.
func PackB(transB bool, k, n int, b []float32, ldb int) *PackedB {
	p := &PackedB{}
	p.Repack(transB, k, n, b, ldb)
	return p
}

// Repack packs op(B) into p, reusing p's memory when the sizes allow. It
// must not run concurrently with a SgemmPacked that reads p.
func (p *PackedB) Repack(transB bool, k, n int, b []float32, ldb int) {
	if k < 0 || n < 0 {
		panic("linalg: PackB: negative size")
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if ldb < max(1, bc) {
		panic("linalg: PackB: bad ldb")
	}
	if br > 0 && bc > 0 && len(b) < ldb*(br-1)+bc {
		panic("linalg: PackB: short B")
	}
	nk := (k + kc - 1) / kc
	nn := (n + nc - 1) / nc
	if cap(p.blocks) < nk*nn {
		p.blocks = make([][]float32, nk*nn)
	}
	p.k, p.n, p.blocks = k, n, p.blocks[:nk*nn]
	for jc := 0; jc < n; jc += nc {
		ncb := min(nc, n-jc)
		// Panels are padded to a multiple of nr columns.
		width := (ncb + nr - 1) / nr * nr
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			i := jc/nc*nk + pc/kc
			if cap(p.blocks[i]) < kcb*width {
				p.blocks[i] = make([]float32, kcb*width)
			}
			p.blocks[i] = p.blocks[i][:kcb*width]
			packB(transB, kcb, ncb, b, ldb, pc, jc, p.blocks[i])
		}
	}
}

// Dims returns the k×n shape of the packed operand.
func (p *PackedB) Dims() (k, n int) { return p.k, p.n }

// SgemmPacked computes C = alpha·op(A)·B + beta·C with B pre-packed by
// PackB (k×n, B's transposition fixed at packing time). A is m×k (k×m when
// transA), C is m×n; as Sgemm otherwise, including the split over
// goroutines for large problems.
func SgemmPacked(transA bool, m int, alpha float32, a []float32, lda int, pb *PackedB, beta float32, c []float32, ldc int) {
	checkPacked(transA, m, a, lda, pb, c, ldc)
	if m == 0 || pb.n == 0 {
		return
	}
	k, n := pb.k, pb.n
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 || 2*float64(m)*float64(n)*float64(k) < parallelMinFlops {
		sgemmPacked(transA, m, alpha, a, lda, pb, 0, n, beta, c, ldc)
		return
	}
	// Split along the larger of m and n (n only within one nc block).
	splitM := m >= n || n > nc
	dim, unit := n, nr
	if splitM {
		dim, unit = m, mr
	}
	tiles := (dim + unit - 1) / unit
	if tiles < 2 {
		sgemmPacked(transA, m, alpha, a, lda, pb, 0, n, beta, c, ldc)
		return
	}
	workers = min(workers, tiles)
	var wg sync.WaitGroup
	for w := range workers {
		lo := tiles * w / workers * unit
		hi := min(tiles*(w+1)/workers*unit, dim)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			if !splitM {
				sgemmPacked(transA, m, alpha, a, lda, pb, lo, hi-lo, beta, c[lo:], ldc)
				return
			}
			ao := lo * lda
			if transA {
				ao = lo
			}
			sgemmPacked(transA, hi-lo, alpha, a[ao:], lda, pb, 0, n, beta, c[lo*ldc:], ldc)
		}(lo, hi)
	}
	wg.Wait()
}

// SgemmPackedSerial is SgemmPacked without starting goroutines.
func SgemmPackedSerial(transA bool, m int, alpha float32, a []float32, lda int, pb *PackedB, beta float32, c []float32, ldc int) {
	checkPacked(transA, m, a, lda, pb, c, ldc)
	if m == 0 || pb.n == 0 {
		return
	}
	sgemmPacked(transA, m, alpha, a, lda, pb, 0, pb.n, beta, c, ldc)
}

func checkPacked(transA bool, m int, a []float32, lda int, pb *PackedB, c []float32, ldc int) {
	if pb == nil {
		panic("linalg: nil PackedB")
	}
	// B's own checks were done at packing time; pass a dummy B that
	// satisfies them.
	checkSgemm(transA, false, m, pb.n, pb.k, a, lda, nil, max(1, pb.n), c, ldc, true)
}

// sgemmPacked multiplies by columns [col0, col0+ncols) of pb into the
// m×ncols matrix c; col0 is a multiple of nr, and col0 > 0 only when pb has
// a single nc block.
func sgemmPacked(transA bool, m int, alpha float32, a []float32, lda int, pb *PackedB, col0, ncols int, beta float32, c []float32, ldc int) {
	k := pb.k
	if alpha == 0 || k == 0 {
		scaleC(m, ncols, beta, c, ldc)
		return
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	nk := (k + kc - 1) / kc
	blocks(s, transA, m, ncols, k, alpha, a, lda, beta, c, ldc, func(jc, pc, kcb, _ int) []float32 {
		return pb.blocks[jc/nc*nk+pc/kc][col0*kcb:]
	})
}
