package metrics

import (
	"math"
	"sort"
)

// Confusion counts point-wise outcomes.
type Confusion struct {
	TP, FP, FN, TN int
}

// Count returns the confusion counts of pred against label (equal lengths;
// extra entries of the longer slice are ignored).
func Count(pred, label []bool) Confusion {
	var c Confusion
	n := min(len(pred), len(label))
	for i := range n {
		switch {
		case pred[i] && label[i]:
			c.TP++
		case pred[i]:
			c.FP++
		case label[i]:
			c.FN++
		default:
			c.TN++
		}
	}
	return c
}

// Precision is TP/(TP+FP), 0 when nothing is flagged.
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is TP/(TP+FN), 0 when nothing is anomalous.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 is the harmonic mean of precision and recall (0 when both are 0).
func (c Confusion) F1() float64 { return Harmonic(c.Precision(), c.Recall()) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Harmonic returns 2pr/(p+r), 0 when p+r is 0.
func Harmonic(p, r float64) float64 {
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

// PRF holds precision, recall and F1.
type PRF struct {
	Precision, Recall, F1 float64
}

// PointWise returns point-wise precision, recall and F1.
func PointWise(pred, label []bool) PRF {
	c := Count(pred, label)
	return PRF{c.Precision(), c.Recall(), c.F1()}
}

// Segments returns the maximal runs of true labels as [start, end) pairs.
func Segments(label []bool) [][2]int {
	var segs [][2]int
	for i := 0; i < len(label); {
		if !label[i] {
			i++
			continue
		}
		j := i
		for j < len(label) && label[j] {
			j++
		}
		segs = append(segs, [2]int{i, j})
		i = j
	}
	return segs
}

// PointAdjust returns a copy of pred in which every true segment of label
// with at least one flagged point is flagged entirely.
func PointAdjust(pred, label []bool) []bool {
	out := append([]bool(nil), pred...)
	for _, s := range Segments(label[:min(len(label), len(pred))]) {
		hit := false
		for i := s[0]; i < s[1]; i++ {
			if pred[i] {
				hit = true
				break
			}
		}
		if hit {
			for i := s[0]; i < s[1]; i++ {
				out[i] = true
			}
		}
	}
	return out
}

// Adjusted returns precision, recall and F1 after point adjustment.
func Adjusted(pred, label []bool) PRF {
	return PointWise(PointAdjust(pred, label), label)
}

// Event returns the composite (event-wise) F1 of Garg et al.: Precision is
// point-wise, Recall is the share of true segments with a flagged point.
func Event(pred, label []bool) PRF {
	c := Count(pred, label)
	segs := Segments(label[:min(len(label), len(pred))])
	hit := 0
	for _, s := range segs {
		for i := s[0]; i < s[1]; i++ {
			if pred[i] {
				hit++
				break
			}
		}
	}
	p := c.Precision()
	r := ratio(hit, len(segs))
	return PRF{p, r, Harmonic(p, r)}
}

// Threshold flags the points whose score is at least thr (NaN is never
// flagged).
func Threshold(score []float64, thr float64) []bool {
	out := make([]bool, len(score))
	for i, s := range score {
		out[i] = s >= thr
	}
	return out
}

// sameScore reports whether a and b belong to one tie group: equal, or both
// NaN.
func sameScore(a, b float64) bool {
	return a == b || (math.IsNaN(a) && math.IsNaN(b))
}

// order returns indices sorted by decreasing score (NaN last).
func order(score []float64) []int {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := score[idx[a]], score[idx[b]]
		if math.IsNaN(y) {
			return !math.IsNaN(x)
		}
		return x > y
	})
	return idx
}

// AveragePrecision returns the area under the precision–recall curve as
// average precision (no interpolation). It is 0 when there is no positive.
func AveragePrecision(score []float64, label []bool) float64 {
	n := min(len(score), len(label))
	score, label = score[:n], label[:n]
	pos := 0
	for _, l := range label {
		if l {
			pos++
		}
	}
	if pos == 0 {
		return 0
	}
	idx := order(score)
	tp, fp := 0, 0
	ap, prevR := 0.0, 0.0
	for i := 0; i < n; {
		j := i
		for j < n && sameScore(score[idx[j]], score[idx[i]]) {
			if label[idx[j]] {
				tp++
			} else {
				fp++
			}
			j++
		}
		r := float64(tp) / float64(pos)
		p := float64(tp) / float64(tp+fp)
		ap += (r - prevR) * p
		prevR = r
		i = j
	}
	return ap
}

// ROCAUC returns the area under the ROC curve (probability that a random
// positive scores above a random negative, ties ½). NaN scores rank below
// every other score as one tie group, as in AveragePrecision (they were
// ranked by index, so the labels' order among them moved the AUC). It is
// NaN when either class is empty.
func ROCAUC(score []float64, label []bool) float64 {
	n := min(len(score), len(label))
	idx := order(score[:n]) // decreasing
	pos, neg := 0, 0
	rankSum := 0.0 // sum of ascending 1-based ranks of the positives
	for i := 0; i < n; {
		j := i
		for j < n && sameScore(score[idx[j]], score[idx[i]]) {
			j++
		}
		// descending positions i..j-1 are ascending ranks n-j+1 .. n-i
		avg := float64(n-j+1+n-i) / 2
		for k := i; k < j; k++ {
			if label[idx[k]] {
				pos++
				rankSum += avg
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - float64(pos)*float64(pos+1)/2) / (float64(pos) * float64(neg))
}

// RankDims returns the feature indices ordered by decreasing score (stable
// for ties, NaN last).
func RankDims(score []float64) []int { return order(score) }

// HitRate returns HitRate@p% (p = 100, 150, …) of the rankings against the
// cause sets: ranks[i] and causes[i] belong to the same point; points with
// an empty cause set or a nil ranking are skipped. It returns the mean and
// the number of points averaged (NaN mean when none).
func HitRate(ranks, causes [][]int, p float64) (float64, int) {
	return averageOver(ranks, causes, p, func(top []int, g map[int]bool, k int) float64 {
		hit := 0
		for _, d := range top {
			if g[d] {
				hit++
			}
		}
		return float64(hit) / float64(len(g))
	})
}

// NDCG returns NDCG@p% of the rankings against the cause sets, with the
// same conventions as HitRate.
func NDCG(ranks, causes [][]int, p float64) (float64, int) {
	return averageOver(ranks, causes, p, func(top []int, g map[int]bool, k int) float64 {
		dcg, idcg := 0.0, 0.0
		for i, d := range top {
			if g[d] {
				dcg += 1 / math.Log2(float64(i)+2)
			}
		}
		for i := range min(k, len(g)) {
			idcg += 1 / math.Log2(float64(i)+2)
		}
		if idcg == 0 {
			return 0
		}
		return dcg / idcg
	})
}

func averageOver(ranks, causes [][]int, p float64, f func(top []int, g map[int]bool, k int) float64) (float64, int) {
	sum, cnt := 0.0, 0
	n := min(len(ranks), len(causes))
	for i := range n {
		if len(causes[i]) == 0 || ranks[i] == nil {
			continue
		}
		g := make(map[int]bool, len(causes[i]))
		for _, d := range causes[i] {
			g[d] = true
		}
		k := int(math.Floor(float64(len(g)) * p / 100))
		top := ranks[i][:min(k, len(ranks[i]))]
		sum += f(top, g, k)
		cnt++
	}
	if cnt == 0 {
		return math.NaN(), 0
	}
	return sum / float64(cnt), cnt
}

// Interval is one line of an interpretation file: the points Start
// through End (inclusive) and the dimensions labelled as their cause.
type Interval struct {
	Start, End int
	Dims       []int
}

// DetectedRankings returns the rankings and cause sets of InterFusion's
// interpretation protocol (its cal_IPS, which follows OmniAnomaly's
// definition): only the true-positive points tp (labelled and flagged) are
// ranked. Each of them belongs to the first interval, in the given order,
// that contains it, and gets that interval's dimensions as its causes and
// the ranking of the interval's aggregate: per dimension, the maximum of
// score over the interval's true-positive points (score holds one row of f
// per-dimension scores per point, higher: more anomalous; a NaN in any of
// the points makes that dimension's aggregate NaN, ranked last, as numpy's
// min does in the reference). Points that are not true positives or lie in
// no interval get nil rankings and causes, which HitRate and NDCG skip.
// (Of two identical interval lines the reference, keyed by the interval,
// keeps the last line's dimensions; here the first line wins.)
// The aggregate reads later points of the interval, so this protocol
// explains an incident after the fact; it is not a causal ranking.
func DetectedRankings(score []float64, f int, tp []bool, intervals []Interval) (ranks, causes [][]int) {
	n := len(tp)
	if f > 0 {
		n = min(n, len(score)/f)
	}
	ranks, causes = make([][]int, n), make([][]int, n)
	if f <= 0 {
		return ranks, causes
	}
	member := make([][]int, len(intervals)) // the true positives of each interval
	for t := range n {
		if !tp[t] {
			continue
		}
		for k, iv := range intervals {
			if iv.Start <= t && t <= iv.End {
				member[k] = append(member[k], t)
				break
			}
		}
	}
	agg := make([]float64, f)
	for k, pts := range member {
		if len(pts) == 0 {
			continue
		}
		copy(agg, score[pts[0]*f:(pts[0]+1)*f])
		for _, t := range pts[1:] {
			for j, v := range score[t*f : (t+1)*f] {
				if v > agg[j] || math.IsNaN(v) {
					agg[j] = v
				}
			}
		}
		r := RankDims(agg)
		for _, t := range pts {
			ranks[t], causes[t] = r, intervals[k].Dims
		}
	}
	return ranks, causes
}
