package linalg

// kernelFunc computes the mr×nr tile C = alpha·(Ap·Bp) + beta·C from an
// mr-row micro-panel ap and an nr-column micro-panel bp of depth k (k ≥ 1).
// When beta is zero C is not read.
type kernelFunc func(k int, ap, bp, c []float32, ldc int, alpha, beta float32)

// kernel returns the micro-kernel selected for this CPU.
func kernel() kernelFunc {
	if useAsm {
		return kernelAsm
	}
	return kernelGeneric
}

// kernelGeneric is the portable micro-kernel: for each row of the tile it
// keeps two halves of eight accumulators in registers.
func kernelGeneric(k int, ap, bp, c []float32, ldc int, alpha, beta float32) {
	ap = ap[:k*mr]
	bp = bp[:k*nr]
	_ = c[(mr-1)*ldc+nr-1]
	for i := range mr {
		for h := 0; h < nr; h += 8 {
			var s0, s1, s2, s3, s4, s5, s6, s7 float32
			for l := range k {
				av := ap[l*mr+i]
				b := bp[l*nr+h : l*nr+h+8 : l*nr+h+8]
				s0 += av * b[0]
				s1 += av * b[1]
				s2 += av * b[2]
				s3 += av * b[3]
				s4 += av * b[4]
				s5 += av * b[5]
				s6 += av * b[6]
				s7 += av * b[7]
			}
			row := c[i*ldc+h : i*ldc+h+8 : i*ldc+h+8]
			if beta == 0 {
				row[0], row[1], row[2], row[3] = alpha*s0, alpha*s1, alpha*s2, alpha*s3
				row[4], row[5], row[6], row[7] = alpha*s4, alpha*s5, alpha*s6, alpha*s7
				continue
			}
			row[0] = beta*row[0] + alpha*s0
			row[1] = beta*row[1] + alpha*s1
			row[2] = beta*row[2] + alpha*s2
			row[3] = beta*row[3] + alpha*s3
			row[4] = beta*row[4] + alpha*s4
			row[5] = beta*row[5] + alpha*s5
			row[6] = beta*row[6] + alpha*s6
			row[7] = beta*row[7] + alpha*s7
		}
	}
}
