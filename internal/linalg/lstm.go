package linalg

// LSTMCellForward finishes one LSTM step for a batch after the gate
// pre-activations have been computed (gates = x·Wx + h·Wh + b, e.g. with
// Sgemm and AddBias).
//
// gates is batch×4H row-major in the order [i | f | g | o]; on return it
// holds the activations σ(i), σ(f), tanh(g), σ(o), which LSTMCellBackward
// needs. Then
//
//	c = f⊙cPrev + i⊙g,  tanhC = tanh(c),  h = o⊙tanhC
//
// cPrev, c, h and tanhC are batch×H; cPrev may be nil for a zero initial
// state. c must not alias cPrev partially (exact aliasing is fine).
func LSTMCellForward(gates, cPrev, c, h, tanhC []float32, batch, hidden int) {
	if batch < 0 || hidden < 0 {
		panic("linalg: LSTMCellForward: negative size")
	}
	hh := hidden
	n := batch * hh
	checkLen("LSTMCellForward", 4*n, gates)
	checkLen("LSTMCellForward", n, c, h, tanhC)
	if cPrev != nil {
		checkLen("LSTMCellForward", n, cPrev)
	}
	if lstmForwardAsm(gates, cPrev, c, h, tanhC, batch, hidden) {
		return
	}
	for r := range batch {
		g := gates[r*4*hh : (r+1)*4*hh]
		Sigmoid(g[:2*hh], g[:2*hh])
		Tanh(g[2*hh:3*hh], g[2*hh:3*hh])
		Sigmoid(g[3*hh:], g[3*hh:])
		ig, fg, gg := g[:hh], g[hh:2*hh], g[2*hh:3*hh]
		cr := c[r*hh : (r+1)*hh]
		if cPrev != nil {
			cp := cPrev[r*hh : (r+1)*hh]
			for j := range cr {
				cr[j] = fg[j]*cp[j] + ig[j]*gg[j]
			}
		} else {
			for j := range cr {
				cr[j] = ig[j] * gg[j]
			}
		}
	}
	Tanh(tanhC, c)
	for r := range batch {
		og := gates[r*4*hh+3*hh : (r+1)*4*hh]
		hr := h[r*hh : (r+1)*hh]
		tr := tanhC[r*hh : (r+1)*hh]
		for j := range hr {
			hr[j] = og[j] * tr[j]
		}
	}
}

// LSTMCellBackward is the backward pass of LSTMCellForward for one step.
//
// gates holds the activations left by LSTMCellForward, cPrev (nil for a
// zero initial state) and tanhC the step's inputs and tanh(c). dh is the
// gradient of the loss with respect to h (from the output and from step
// t+1's recurrence); dc is, on entry, the gradient with respect to c coming
// from step t+1 (zeros at the last step) and, on return, the gradient with
// respect to cPrev. dGates (batch×4H, [i | f | g | o]) receives the gradient
// with respect to the gate pre-activations, ready for the weight gradients
// (Sgemm with transA) and dh of step t-1 (Sgemm with transB).
func LSTMCellBackward(dGates, gates, cPrev, tanhC, dh, dc []float32, batch, hidden int) {
	if batch < 0 || hidden < 0 {
		panic("linalg: LSTMCellBackward: negative size")
	}
	hh := hidden
	n := batch * hh
	checkLen("LSTMCellBackward", 4*n, gates, dGates)
	checkLen("LSTMCellBackward", n, tanhC, dh, dc)
	if cPrev != nil {
		checkLen("LSTMCellBackward", n, cPrev)
	}
	if lstmBackwardAsm(dGates, gates, cPrev, tanhC, dh, dc, batch, hidden) {
		return
	}
	for r := range batch {
		g := gates[r*4*hh : (r+1)*4*hh]
		dg := dGates[r*4*hh : (r+1)*4*hh]
		ig, fg, gg, og := g[:hh], g[hh:2*hh], g[2*hh:3*hh], g[3*hh:4*hh]
		di, df, dgg, do := dg[:hh], dg[hh:2*hh], dg[2*hh:3*hh], dg[3*hh:4*hh]
		tc := tanhC[r*hh : (r+1)*hh]
		dhr := dh[r*hh : (r+1)*hh]
		dcr := dc[r*hh : (r+1)*hh]
		var cp []float32
		if cPrev != nil {
			cp = cPrev[r*hh : (r+1)*hh]
		}
		for j := range dcr {
			i, f, gv, o, t := ig[j], fg[j], gg[j], og[j], tc[j]
			dct := dcr[j] + dhr[j]*o*(1-t*t)
			do[j] = dhr[j] * t * o * (1 - o)
			di[j] = dct * gv * i * (1 - i)
			dgg[j] = dct * i * (1 - gv*gv)
			if cp != nil {
				df[j] = dct * cp[j] * f * (1 - f)
			} else {
				df[j] = 0
			}
			dcr[j] = dct * f
		}
	}
}
