package model

// gemmAcc computes C += A·B for row-major A (m×k), B (k×n) and C (m×n)
// without packing. It is for the LSTM's small-k products (k ≤ F+H, B a
// weight matrix that stays in cache), where a packing GEMM spends more time
// packing B than multiplying, above all for m = 1 (streaming) and m ≤ a few
// dozen (the recurrent step). On amd64 with AVX2+FMA it runs 6×16, 1×64 and
// 1×16 register-blocked assembly kernels over B column panels, the ragged
// right edge in Go. Bounds are checked here; the kernels trust them.
func gemmAcc(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	gemm(m, n, k, a, lda, b, ldb, c, ldc, nil)
}

// gemmBias computes C = bias + A·B, bias (len n) added to every row; C is
// not read.
func gemmBias(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, bias []float32) {
	gemm(m, n, k, a, lda, b, ldb, c, ldc, bias[:n])
}

func gemm(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, bias []float32) {
	if m <= 0 || n <= 0 {
		return
	}
	_ = c[(m-1)*ldc+n-1]
	if k <= 0 {
		if bias != nil {
			for i := range m {
				copy(c[i*ldc:i*ldc+n], bias)
			}
		}
		return
	}
	_ = a[(m-1)*lda+k-1]
	_ = b[(k-1)*ldb+n-1]
	if !useAsm {
		if bias != nil {
			for i := range m {
				copy(c[i*ldc:i*ldc+n], bias)
			}
		}
		gemmAccGo(m, n, k, a, lda, b, ldb, c, ldc)
		return
	}
	n16 := n &^ 15
	m6 := m - m%6
	for j := 0; j < n16; j += 16 {
		var bp *float32
		if bias != nil {
			bp = &bias[j]
		}
		for i := 0; i < m6; i += 6 {
			kern6x16(k, &a[i*lda], lda, &b[j], ldb, &c[i*ldc+j], ldc, bp)
		}
	}
	for i := m6; i < m; i++ {
		j := 0
		for ; j+64 <= n16; j += 64 {
			var bp *float32
			if bias != nil {
				bp = &bias[j]
			}
			kern1x64(k, &a[i*lda], &b[j], ldb, &c[i*ldc+j], bp)
		}
		for ; j < n16; j += 16 {
			var bp *float32
			if bias != nil {
				bp = &bias[j]
			}
			kern1x16(k, &a[i*lda], &b[j], ldb, &c[i*ldc+j], bp)
		}
	}
	if n16 < n {
		if bias != nil {
			for i := range m {
				copy(c[i*ldc+n16:i*ldc+n], bias[n16:])
			}
		}
		gemmAccGo(m, n-n16, k, a, lda, b[n16:], ldb, c[n16:], ldc)
	}
}

// gemmAccGo is gemmAcc in plain Go.
func gemmAccGo(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	for i := range m {
		cr := c[i*ldc : i*ldc+n]
		ar := a[i*lda : i*lda+k]
		for p, av := range ar {
			br := b[p*ldb : p*ldb+n]
			for j, bv := range br {
				cr[j] += av * bv
			}
		}
	}
}
