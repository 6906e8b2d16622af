package training

import (
	"testing"
)

// The mean leaves an entity out of the detection figures when its test
// file has no anomalous rows (its 0s are not measured; they halved the
// mean F1-PA of two entities) and out of HitRate/NDCG without
// interpretation labels; it says how many entities each averages
// (reviewer's finding).
func TestMeanReportLeavesOutUnmeasured(t *testing.T) {
	es := []EntityReport{
		{Entity: "a", F1PA: 0.9, F1: 0.5, AUCPR: 0.4, ROCAUC: 0.8, HitRate150: 0.6, TrainSeconds: 1, TestPoints: 100, AnomalousPoints: 10, InterpretedPoints: 5},
		{Entity: "b", F1PA: 0.7, F1: 0.3, AUCPR: 0.2, ROCAUC: 0.6, TrainSeconds: 3, TestPoints: 100, AnomalousPoints: 4},
		{Entity: "quiet", TrainSeconds: 2, TestPoints: 50},
	}
	m, n, ni := meanReport(es)
	near := func(a, b float64) bool { return a-b < 1e-12 && b-a < 1e-12 }
	if n != 2 || ni != 1 {
		t.Errorf("mean over %d and %d entities, want 2 (anomalous rows) and 1 (interpreted)", n, ni)
	}
	if !near(m.F1PA, 0.8) || !near(m.F1, 0.4) || !near(m.AUCPR, 0.3) || !near(m.ROCAUC, 0.7) || !near(m.HitRate150, 0.6) {
		t.Errorf("mean %+v, want F1-PA 0.8, F1 0.4, AUC-PR 0.3, ROC-AUC 0.7, HR@150 0.6", m)
	}
	if !near(m.TrainSeconds, 2) || m.TestPoints != 250 || m.AnomalousPoints != 14 || m.InterpretedPoints != 5 {
		t.Errorf("mean %+v, want train seconds averaged over all 3 and the points summed", m)
	}
	m, n, ni = meanReport(es[2:])
	if n != 0 || ni != 0 || m.F1PA != 0 || m.AnomalousPoints != 0 || !near(m.TrainSeconds, 2) {
		t.Errorf("mean of one entity without anomalies: %+v over %d, %d", m, n, ni)
	}
}
