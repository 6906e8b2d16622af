package linalg

// kernelFunc computes the mr×nr tile C = alpha·(A·B) + beta·C over depth
// k ≥ 1, where A(i,l) = a[i·rsA + l·csA] and B(l,j) = b[l·csB + j]: A may
// be a packed micro-panel (rsA = 1, csA = mr) or read in place from a
// row-major matrix (rsA = lda, csA = 1, or transposed rsA = 1, csA = lda);
// B rows are nr contiguous floats. When beta is zero C is not read.
type kernelFunc func(k int, a []float32, rsA, csA int, b []float32, csB int, c []float32, ldc int, alpha, beta float32)

// kernel returns the micro-kernel selected for this CPU.
func kernel() kernelFunc {
	if useAsm {
		return kernelAsm
	}
	return kernelGeneric
}

// kernel8 returns the micro-kernel for panels of at most 8 columns: a
// kernelFunc that computes and writes only the first 8 columns.
func kernel8() kernelFunc {
	if useAsm {
		return kernel8Asm
	}
	return kernel8Generic
}

// kernelGeneric is the portable micro-kernel: for each row of the tile it
// keeps two halves of eight accumulators in registers.
func kernelGeneric(k int, a []float32, rsA, csA int, b []float32, csB int, c []float32, ldc int, alpha, beta float32) {
	kernelGenericWidth(nr, k, a, rsA, csA, b, csB, c, ldc, alpha, beta)
}

// kernel8Generic is kernelGeneric over the first 8 columns only.
func kernel8Generic(k int, a []float32, rsA, csA int, b []float32, csB int, c []float32, ldc int, alpha, beta float32) {
	kernelGenericWidth(8, k, a, rsA, csA, b, csB, c, ldc, alpha, beta)
}

// kernelGenericWidth computes the first width (8 or 16) columns of a tile.
func kernelGenericWidth(width, k int, a []float32, rsA, csA int, b []float32, csB int, c []float32, ldc int, alpha, beta float32) {
	_ = a[(mr-1)*rsA+(k-1)*csA]
	_ = b[(k-1)*csB+width-1]
	_ = c[(mr-1)*ldc+width-1]
	for i := range mr {
		ar := a[i*rsA:]
		for h := 0; h < width; h += 8 {
			var s0, s1, s2, s3, s4, s5, s6, s7 float32
			for l := range k {
				av := ar[l*csA]
				bb := (*[8]float32)(b[l*csB+h:])
				s0 += av * bb[0]
				s1 += av * bb[1]
				s2 += av * bb[2]
				s3 += av * bb[3]
				s4 += av * bb[4]
				s5 += av * bb[5]
				s6 += av * bb[6]
				s7 += av * bb[7]
			}
			row := (*[8]float32)(c[i*ldc+h:])
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

// rowKernelFunc computes one row of a tile: c[j] = alpha·Σ_l a[l·csA]·
// b[l·nr + j] + beta·c[j] for j < nr, with b a packed B micro-panel. It
// serves ragged panels of at most rowKernelMaxRows rows, for which the
// mr×nr kernel would mostly multiply padding. When beta is zero c is not
// read.
type rowKernelFunc func(k int, a []float32, csA int, b, c []float32, alpha, beta float32)

// rowKernelMaxRows is the largest ragged panel computed row by row.
const rowKernelMaxRows = 2

func rowKernel() rowKernelFunc {
	if useAsm {
		return rowKernelAsm
	}
	return rowKernelGeneric
}

func rowKernelGeneric(k int, a []float32, csA int, b, c []float32, alpha, beta float32) {
	_ = a[(k-1)*csA]
	_ = b[(k-1)*nr+nr-1]
	row := (*[nr]float32)(c)
	for h := 0; h < nr; h += 8 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		for l := range k {
			av := a[l*csA]
			bb := (*[8]float32)(b[l*nr+h:])
			s0 += av * bb[0]
			s1 += av * bb[1]
			s2 += av * bb[2]
			s3 += av * bb[3]
			s4 += av * bb[4]
			s5 += av * bb[5]
			s6 += av * bb[6]
			s7 += av * bb[7]
		}
		acc := [8]float32{s0, s1, s2, s3, s4, s5, s6, s7}
		for j, v := range acc {
			if beta == 0 {
				row[h+j] = alpha * v
			} else {
				row[h+j] = beta*row[h+j] + alpha*v
			}
		}
	}
}
