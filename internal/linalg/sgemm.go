package linalg

import (
	"runtime"
	"sync"
)

// Blocking parameters. mr×nr is the register tile of the micro-kernel; an
// mc×kc block of A is packed to stay in L2, a kc×nr micro-panel of B stays
// in L1 while the kernel sweeps the A block; nc bounds the packed B block.
const (
	mr = 6
	nr = 16
	kc = 256
	mc = 144 // multiple of mr
	nc = 2048
)

// parallelMinFlops is the problem size (2·m·n·k) from which Sgemm splits the
// work over several goroutines.
const parallelMinFlops = 1 << 24

// Sgemm computes C = alpha·op(A)·op(B) + beta·C with op(X) = X or Xᵀ.
//
// A is m×k (k×m when transA), B is k×n (n×k when transB) and C is m×n, all
// row-major with leading dimensions lda, ldb and ldc. When beta is zero C is
// not read. Large problems are split over up to runtime.GOMAXPROCS(0)
// goroutines. Safe for concurrent use on disjoint C. Panics on programmer
// errors (bad sizes, leading dimensions or slice lengths), like gonum's BLAS.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, false)
	if m == 0 || n == 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	flops := 2 * float64(m) * float64(n) * float64(k)
	if workers < 2 || flops < parallelMinFlops || alpha == 0 || k == 0 {
		sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Split along the larger of m and n into chunks aligned to the tile.
	splitM := m >= n
	dim, unit := n, nr
	if splitM {
		dim, unit = m, mr
	}
	tiles := (dim + unit - 1) / unit
	if tiles < 2 {
		sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if workers > tiles {
		workers = tiles
	}
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
			if splitM {
				ao := lo * lda
				if transA {
					ao = lo
				}
				sgemm(transA, transB, hi-lo, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc)
				return
			}
			bo := lo
			if transB {
				bo = lo * ldb
			}
			sgemm(transA, transB, m, hi-lo, k, alpha, a, lda, b[bo:], ldb, beta, c[lo:], ldc)
		}(lo, hi)
	}
	wg.Wait()
}

// SgemmSerial is Sgemm without starting goroutines, for callers that already
// parallelise over independent problems.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, false)
	if m == 0 || n == 0 {
		return
	}
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func checkSgemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, skipB bool) {
	if m < 0 {
		panic("linalg: m < 0")
	}
	if n < 0 {
		panic("linalg: n < 0")
	}
	if k < 0 {
		panic("linalg: k < 0")
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if lda < max(1, ac) {
		panic("linalg: bad lda")
	}
	if ldb < max(1, bc) {
		panic("linalg: bad ldb")
	}
	if ldc < max(1, n) {
		panic("linalg: bad ldc")
	}
	if m == 0 || n == 0 {
		return
	}
	if ar > 0 && ac > 0 && len(a) < lda*(ar-1)+ac {
		panic("linalg: short A")
	}
	if !skipB && br > 0 && bc > 0 && len(b) < ldb*(br-1)+bc {
		panic("linalg: short B")
	}
	if len(c) < ldc*(m-1)+n {
		panic("linalg: short C")
	}
}

// scaleC computes C = beta·C over an m×n block (C = 0 without reading it
// when beta is zero).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// directTransAMax is the largest m for which a transposed A is read in
// place by the micro-kernel; larger transposed A are packed (reading 6 of
// every 16 floats of a cache line per panel wastes cache for big m). A
// non-transposed A is always read in place: its rows are contiguous.
const directTransAMax = 96

// scratch holds the packed panels of one serial GEMM.
type scratch struct {
	a []float32 // up to mc×kc, in mr-row micro-panels (grown on demand)
	b []float32 // up to kc×nc, in nr-column micro-panels (grown on demand)
	e [mr * kc]float32
	t [mr * nr]float32
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// grow returns buf resliced to n floats, reallocating when it is too small.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// aView describes how the micro-kernel reads an mcb×kcb block of op(A):
// panel ir starts at a[ir·ps] and A(i,l) is at offset i·rs + l·cs from
// there. edge, if not nil, is the packed ragged last panel.
type aView struct {
	a          []float32
	ps, rs, cs int
	edge       []float32
}

// sgemm is the serial blocked driver; arguments are already checked and
// m, n > 0.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	blocks(s, transA, m, n, k, alpha, a, lda, beta, c, ldc, func(jc, pc, kcb, ncb int) []float32 {
		s.b = grow(s.b, kcb*((ncb+nr-1)/nr*nr))
		packB(transB, kcb, ncb, b, ldb, pc, jc, s.b)
		return s.b
	})
}

// blocks runs the Goto/BLIS loops over C (m×n, k deep, all > 0) with the
// packed kcb×ncb block of op(B) at (pc, jc) supplied by packedB.
func blocks(s *scratch, transA bool, m, n, k int, alpha float32, a []float32, lda int, beta float32, c []float32, ldc int, packedB func(jc, pc, kcb, ncb int) []float32) {
	kern, kern8, rowKern := kernel(), kernel8(), rowKernel()
	direct := !transA || m <= directTransAMax
	for jc := 0; jc < n; jc += nc {
		ncb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kcb := min(kc, k-pc)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			pb := packedB(jc, pc, kcb, ncb)
			for ic := 0; ic < m; ic += mc {
				mcb := min(mc, m-ic)
				var av aView
				switch {
				case !direct:
					s.a = grow(s.a, kcb*((mcb+mr-1)/mr*mr))
					packA(transA, mcb, kcb, a, lda, ic, pc, s.a)
					av = aView{a: s.a, ps: kcb, rs: 1, cs: mr}
				case transA:
					av = aView{a: a[pc*lda+ic:], ps: 1, rs: 1, cs: lda}
				default:
					av = aView{a: a[ic*lda+pc:], ps: lda, rs: lda, cs: 1}
				}
				if rem := mcb % mr; direct && rem != 0 {
					packA(transA, rem, kcb, a, lda, ic+mcb-rem, pc, s.e[:])
					av.edge = s.e[:mr*kcb]
				}
				macro(kern, kern8, rowKern, mcb, ncb, kcb, alpha, &av, pb, bet, c[ic*ldc+jc:], ldc, &s.t)
			}
		}
	}
}

// macro runs the micro-kernel over an mcb×ncb block of C from the A block
// av and packed B panels pb (kcb×ncb).
func macro(kern, kern8 kernelFunc, rowKern rowKernelFunc, mcb, ncb, kcb int, alpha float32, av *aView, pb []float32, beta float32, c []float32, ldc int, t *[mr * nr]float32) {
	for jr := 0; jr < ncb; jr += nr {
		nrb := min(nr, ncb-jr)
		bp := pb[jr*kcb : jr*kcb+nr*kcb]
		for ir := 0; ir < mcb; ir += mr {
			mrb := min(mr, mcb-ir)
			ap, rs, cs := av.a[ir*av.ps:], av.rs, av.cs
			if mrb < mr && av.edge != nil {
				ap, rs, cs = av.edge, 1, mr
			}
			if mrb == mr && nrb == nr {
				kern(kcb, ap, rs, cs, bp, nr, c[ir*ldc+jr:], ldc, alpha, beta)
				continue
			}
			if mrb == mr && nrb <= 8 {
				// Narrow panel: the 6×8 kernel, straight into C when the
				// panel is exactly 8 wide.
				if nrb == 8 {
					kern8(kcb, ap, rs, cs, bp, nr, c[ir*ldc+jr:], ldc, alpha, beta)
					continue
				}
				kern8(kcb, ap, rs, cs, bp, nr, t[:], nr, alpha, 0)
				mergeTile(c[ir*ldc+jr:], ldc, mr, nrb, beta, t)
				continue
			}
			if mrb <= rowKernelMaxRows {
				for i := range mrb {
					if nrb == nr {
						rowKern(kcb, ap[i*rs:], cs, bp, c[(ir+i)*ldc+jr:], alpha, beta)
						continue
					}
					rowKern(kcb, ap[i*rs:], cs, bp, t[:nr], alpha, 0)
					row := c[(ir+i)*ldc+jr : (ir+i)*ldc+jr+nrb]
					for j := range row {
						if beta == 0 {
							row[j] = t[j]
						} else {
							row[j] = beta*row[j] + t[j]
						}
					}
				}
				continue
			}
			// Edge tile: compute the full tile into t, then merge.
			kern(kcb, ap, rs, cs, bp, nr, t[:], nr, alpha, 0)
			mergeTile(c[ir*ldc+jr:], ldc, mrb, nrb, beta, t)
		}
	}
}

// mergeTile sets the mrb×nrb corner of C to beta·C + t (t holds alpha·AB
// with row stride nr); C is not read when beta is zero.
func mergeTile(c []float32, ldc, mrb, nrb int, beta float32, t *[mr * nr]float32) {
	for i := range mrb {
		row := c[i*ldc : i*ldc+nrb]
		tr := t[i*nr : i*nr+nrb]
		if beta == 0 {
			for j := range row {
				row[j] = tr[j]
			}
			continue
		}
		for j := range row {
			row[j] = beta*row[j] + tr[j]
		}
	}
}

// packA packs op(A)[ic:ic+mcb, pc:pc+kcb] into micro-panels of mr rows:
// panel p holds, for each l in [0,kcb), the mr values op(A)[ic+p·mr+r, pc+l]
// contiguously. Rows past mcb are zero.
func packA(trans bool, mcb, kcb int, a []float32, lda, ic, pc int, dst []float32) {
	for ir := 0; ir < mcb; ir += mr {
		mrb := min(mr, mcb-ir)
		d := dst[ir*kcb : ir*kcb+mr*kcb]
		if trans {
			// op(A)[i,l] = A[l,i]: rows of A are contiguous in i.
			for l := range kcb {
				src := a[(pc+l)*lda+ic+ir:]
				if mrb == mr {
					dd, ss := (*[mr]float32)(d[l*mr:]), (*[mr]float32)(src)
					dd[0], dd[1], dd[2], dd[3], dd[4], dd[5] = ss[0], ss[1], ss[2], ss[3], ss[4], ss[5]
					continue
				}
				dd := d[l*mr : l*mr+mr]
				copy(dd, src[:mrb])
				clear(dd[mrb:])
			}
			continue
		}
		if mrb == mr {
			o := (ic+ir)*lda + pc
			r0 := a[o : o+kcb]
			r1 := a[o+lda : o+lda+kcb]
			r2 := a[o+2*lda : o+2*lda+kcb]
			r3 := a[o+3*lda : o+3*lda+kcb]
			r4 := a[o+4*lda : o+4*lda+kcb]
			r5 := a[o+5*lda : o+5*lda+kcb]
			for l := range r0 {
				dd := (*[mr]float32)(d[l*mr:])
				dd[0], dd[1], dd[2], dd[3], dd[4], dd[5] = r0[l], r1[l], r2[l], r3[l], r4[l], r5[l]
			}
			continue
		}
		clear(d)
		for r := range mrb {
			src := a[(ic+ir+r)*lda+pc : (ic+ir+r)*lda+pc+kcb]
			for l, v := range src {
				d[l*mr+r] = v
			}
		}
	}
}

// packB packs op(B)[pc:pc+kcb, jc:jc+ncb] into micro-panels of nr columns:
// panel p holds, for each l in [0,kcb), the nr values op(B)[pc+l, jc+p·nr+j]
// contiguously. Columns past ncb are zero.
func packB(trans bool, kcb, ncb int, b []float32, ldb, pc, jc int, dst []float32) {
	for jr := 0; jr < ncb; jr += nr {
		nrb := min(nr, ncb-jr)
		d := dst[jr*kcb : jr*kcb+nr*kcb]
		if !trans {
			if nrb == nr {
				packB16(d, b[pc*ldb+jc+jr:], kcb, ldb)
				continue
			}
			for l := range kcb {
				src := b[(pc+l)*ldb+jc+jr:]
				dd := d[l*nr : l*nr+nr]
				copy(dd, src[:nrb])
				clear(dd[nrb:])
			}
			continue
		}
		// op(B)[l,j] = B[j,l]: rows of B are contiguous in l. Transpose
		// blocks of 4 rows at a time.
		j := 0
		for ; j+4 <= nrb; j += 4 {
			o := (jc+jr+j)*ldb + pc
			r0 := b[o : o+kcb]
			r1 := b[o+ldb : o+ldb+kcb]
			r2 := b[o+2*ldb : o+2*ldb+kcb]
			r3 := b[o+3*ldb : o+3*ldb+kcb]
			for l := range r0 {
				dd := (*[4]float32)(d[l*nr+j:])
				dd[0], dd[1], dd[2], dd[3] = r0[l], r1[l], r2[l], r3[l]
			}
		}
		for ; j < nr; j++ {
			if j >= nrb {
				for l := range kcb {
					d[l*nr+j] = 0
				}
				continue
			}
			src := b[(jc+jr+j)*ldb+pc : (jc+jr+j)*ldb+pc+kcb]
			for l, v := range src {
				d[l*nr+j] = v
			}
		}
	}
}

// copy16 copies 16 floats without a call to memmove (which the compiler
// emits for array assignment and which dominates such short copies).
func copy16(d, s *[16]float32) {
	d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15] = s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15]
}

// packB16Generic copies k rows of 16 floats from src (row stride ld) to dst.
func packB16Generic(dst, src []float32, k, ld int) {
	for l := range k {
		copy16((*[nr]float32)(dst[l*nr:]), (*[nr]float32)(src[l*ld:]))
	}
}
