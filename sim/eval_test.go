package sim

import (
	"slices"
	"sort"
	"testing"
	"time"
)

// thresholds of a naive detector on the precursor features.
var naive = map[string]float64{
	FeatureConfigDelay:        5,
	FeatureConnectionPool:     0.75,
	FeatureDependencyNotFound: 0.2,
	FeatureMountLatency:       5,
	FeatureMemoryLimitRatio:   0.75,
	FeatureCPUThrottled:       0.3,
	FeatureDependencyLatency:  0.2,
}

// TestScheduleEndToEnd plays a generated schedule through the features
// extractor and checks that (1) failure labels appear only on the truth's
// entities while they fail, and (2) a naive threshold detector on the
// precursor features, scored with Score, predicts the failures that have a
// precursor, misses the one without, and is fooled by false-alarm bait —
// the properties that keep omen's figures honest.
func TestScheduleEndToEnd(t *testing.T) {
	const dur = 12 * time.Hour
	specs, err := Schedule(11, dur, ScheduleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(t, Options{Seed: 11, Scenarios: specs})
	p := newPipeline(t)
	names := p.cfg.FeatureNames()
	labelNames := p.cfg.LabelNames()
	var alerts []Alert
	type labelled struct {
		entity string
		at     time.Time
		label  string
	}
	var labels []labelled
	for range int(dur / DefaultStep) {
		tk := f.Advance()
		p.add(tk)
		if tk.Seq%4 != 0 || tk.Seq < 40 { // once a minute, after 10m of history
			continue
		}
		for ent, v := range p.eval(tk.Time) {
			for i, fl := range v.Failure {
				if fl {
					labels = append(labels, labelled{ent, tk.Time, labelNames[i]})
				}
			}
			type hit struct {
				name string
				by   float64
			}
			var hits []hit
			for name, thr := range naive {
				if x := v.Values[indexOf(names, name)]; x > thr {
					hits = append(hits, hit{name, x / thr})
				}
			}
			if len(hits) == 0 {
				continue
			}
			sort.Slice(hits, func(i, j int) bool {
				return hits[i].by > hits[j].by || hits[i].by == hits[j].by && hits[i].name < hits[j].name
			})
			var causes []string
			for _, h := range hits {
				causes = append(causes, h.name)
			}
			alerts = append(alerts, Alert{Entity: v.Labels, FiredAt: tk.Time, TopCauses: causes})
		}
	}
	truth := f.Truth()

	// (1) Failure labels only where and when the truth says.
	for _, l := range labels {
		ok := slices.ContainsFunc(truth, func(tr Truth) bool {
			return tr.Fails && tr.Entity["namespace"]+"/"+tr.Entity["pod"] == l.entity &&
				!l.at.Before(tr.FailureAt) && !l.at.After(tr.EndAt.Add(11*time.Minute)) // event windows are 10m
		})
		if !ok {
			t.Errorf("label %s on %s at %v matches no failure", l.label, l.entity, l.at)
		}
	}
	failed := map[string]bool{}
	for _, l := range labels {
		failed[l.entity] = true
	}
	for _, tr := range truth {
		if tr.Fails && !failed[tr.Entity["namespace"]+"/"+tr.Entity["pod"]] {
			t.Errorf("%s: failure of %v never labelled", tr.ID, tr.Entity)
		}
	}

	// (2) The naive detector.
	r := Score(truth, alerts, 30*time.Minute)
	t.Logf("naive detector over %v, %d scenarios: %+v", dur, len(truth), r)
	noPre := 0
	for _, tr := range truth {
		if tr.Fails && !tr.HasPrecursor {
			noPre++
		}
	}
	if r.Predicted != r.Failures-noPre {
		t.Errorf("predicted %d of %d failures, want all %d with a precursor", r.Predicted, r.Failures, r.Failures-noPre)
	}
	if r.Top1Cause < 0.99 {
		t.Errorf("top1 cause %v: the precursor feature should be the one alerting", r.Top1Cause)
	}
	if r.LeadTimeMedianS <= 0 {
		t.Errorf("lead time %v", r.LeadTimeMedianS)
	}
	if r.FalseAlarmBait == 0 || r.Precision == 1 {
		t.Errorf("bait %d, precision %v: the bait should fool a threshold detector", r.FalseAlarmBait, r.Precision)
	}
}
