package sim

import (
	"math"

	"testing"
	"time"

	"github.com/omen-sre/omen/features"
)

// TestScenarioPrecursorAndFailure plays every kind alone and checks, through
// the features extractor with FeatureConfig, that the cause feature of the
// target pod stays at its baseline before onset, rises during the lead and
// is high just before FailureAt, and that the failure labels fire only from
// FailureAt on (never for a false alarm).
func TestScenarioPrecursorAndFailure(t *testing.T) {
	type tc struct {
		kind       Kind
		falseAlarm bool
		minRise    float64 // cause feature just before failure minus baseline
	}
	cases := []tc{
		{ConfigPropagation, false, 10},
		{ConnectionExhaustion, false, 0.4},
		{IncompatibleDependency, false, 0.3},
		{MemoryGrowth, false, 0.3},
		{SidecarCPUContention, false, 0.3},
		{VolumeSyncDelay, false, 5},
		{CrossZoneLatency, false, 0.15},
		{ImageConflict, false, 0},
		{MemoryGrowth, true, 0.15},
		{ConnectionExhaustion, true, 0.2},
	}
	const (
		at   = 70 * time.Minute
		lead = 20 * time.Minute
	)
	for _, c := range cases {
		name := string(c.kind)
		if c.falseAlarm {
			name += "/false_alarm"
		}
		t.Run(name, func(t *testing.T) {
			strength := 1.0
			if c.falseAlarm {
				strength = 0.6
			}
			f := newFleet(t, Options{Seed: 7, DeployEvery: -1, Scenarios: []ScenarioSpec{{
				Kind: c.kind, At: at, Lead: lead, Strength: strength, FalseAlarm: c.falseAlarm, Replica: 1,
			}}})
			p := newPipeline(t)
			names := p.cfg.FeatureNames()
			labelNames := p.cfg.LabelNames()
			tr := f.Truth()[0]
			cause := indexOf(names, tr.Cause)
			if cause < 0 {
				t.Fatalf("cause %q is not a feature of FeatureConfig", tr.Cause)
			}
			if tr.Fails == c.falseAlarm || tr.HasPrecursor != c.kind.HasPrecursor() {
				t.Fatalf("truth %+v", tr)
			}
			if got := tr.FailureAt.Sub(tr.Onset); c.kind.HasPrecursor() && got != lead || !c.kind.HasPrecursor() && got != 0 {
				t.Fatalf("lead %v", got)
			}
			step := f.Step()
			var entity string
			var before, rising, peak float64
			var baseline map[string]features.Vector
			failedBefore, failedAfter := false, false
			restarts0, restarts1 := 0.0, math.NaN() // every pod starts with no restarts
			sawWaiting := false
			events := map[string]int{}
			end := tr.EndAt.Add(2 * time.Minute)
			for f.Now().Before(end) {
				tk := f.Advance()
				p.add(tk)
				now := tk.Time
				if entity == "" && !now.Before(tr.Onset) {
					tr = f.Truth()[0]
					entity = tr.Entity["namespace"] + "/" + tr.Entity["pod"]
				}
				if entity != "" {
					r := 0.0
					for _, s := range tk.Samples {
						if s.Labels.Get("pod") != tr.Entity["pod"] {
							continue
						}
						switch s.Labels.Get("__name__") {
						case "kube_pod_container_status_restarts_total", "kube_pod_init_container_status_restarts_total":
							r += s.V
						case "kube_pod_container_status_waiting_reason", "kube_pod_init_container_status_waiting_reason":
							if s.V == 1 && s.Labels.Get("reason") != "ContainerCreating" || s.V == 1 && c.kind == VolumeSyncDelay {
								if now.Before(tr.FailureAt) {
									t.Errorf("%v: waiting %s before the failure", now, s.Labels.Get("reason"))
								}
								sawWaiting = true
							}
						}
					}
					if now.Before(tr.FailureAt) {
						restarts0 = r
					} else if now.Before(tr.EndAt) {
						restarts1 = r
					}
					for _, e := range tk.Events {
						if e.Labels.Get("pod") == tr.Entity["pod"] && e.Type != "Normal" {
							if now.Before(tr.FailureAt) {
								t.Errorf("%v: %s event before the failure", now, e.Reason)
							}
							events[e.Reason]++
						}
					}
				}
				// Evaluate at a few times only: it is the slow part.
				var dst *float64
				switch now {
				case tr.Onset.Add(-step):
					dst = &before
				case tr.Onset.Add(lead * 3 / 4):
					dst = &rising
				case tr.FailureAt.Add(-step):
					dst = &peak
				}
				check := dst != nil || now.Equal(tr.FailureAt.Add(2*time.Minute)) || now.Equal(tr.Onset.Add(lead/2))
				if !check || entity == "" && dst == nil {
					continue
				}
				vs := p.eval(now)
				if entity == "" {
					// Before onset: keep every pod's vector; the target is
					// known from the onset on.
					baseline = vs
					continue
				}
				v, ok := vs[entity]
				if !ok {
					t.Fatalf("%v: no vector for %s", now, entity)
				}
				if dst != nil {
					*dst = v.Values[cause]
				}
				for i, fl := range v.Failure {
					if fl && now.Before(tr.FailureAt) {
						failedBefore = true
						t.Logf("%v: label %s before failure", now, labelNames[i])
					}
					if fl && !now.Before(tr.FailureAt) {
						failedAfter = true
					}
				}
			}
			if v, ok := baseline[entity]; ok {
				before = v.Values[cause]
			} else {
				t.Fatalf("no baseline vector for %s", entity)
			}
			t.Logf("%s: entity %s, cause %s: before %.4g, rising %.4g, peak %.4g; restarts %v→%v; events %v",
				c.kind, entity, tr.Cause, before, rising, peak, restarts0, restarts1, events)
			if failedBefore {
				t.Errorf("failure label before FailureAt")
			}
			if c.falseAlarm {
				if failedAfter || len(events) > 0 || sawWaiting {
					t.Errorf("false alarm failed: labels %v, events %v, waiting %v", failedAfter, events, sawWaiting)
				}
			} else {
				if !failedAfter {
					t.Errorf("no failure label after FailureAt")
				}
				if !(restarts1 > restarts0) {
					t.Errorf("restarts %v → %v, want an increase", restarts0, restarts1)
				}
				if !sawWaiting && c.kind != SidecarCPUContention {
					t.Errorf("no waiting reason during the failure")
				}
				if len(events) == 0 {
					t.Errorf("no warning events during the failure")
				}
			}
			if c.kind.HasPrecursor() {
				if math.IsNaN(peak) || math.IsNaN(rising) {
					t.Fatalf("no value: rising %v, peak %v", rising, peak)
				}
				if !(before < rising && rising < peak) || peak-before < c.minRise {
					t.Errorf("precursor: %v, %v, %v; want rising by at least %v", before, rising, peak, c.minRise)
				}
			} else if before != 0 || peak != 0 {
				t.Errorf("cause %s before the failure: %v, %v", tr.Cause, before, peak)
			}
		})
	}
}

// TestEveryFeaturePresent checks that the fleet emits what every feature of
// FeatureConfig reads: each gives a number for some entity.
func TestEveryFeaturePresent(t *testing.T) {
	f := newFleet(t, Options{Seed: 2})
	p := newPipeline(t)
	var last Tick
	for range 60 {
		last = f.Advance()
		p.add(last)
	}
	vs := p.eval(last.Time)
	if len(vs) != len(f.Pods()) {
		t.Errorf("%d entities, %d pods", len(vs), len(f.Pods()))
	}
	for i, name := range p.cfg.FeatureNames() {
		ok := false
		for _, v := range vs {
			ok = ok || !math.IsNaN(v.Values[i])
		}
		if !ok {
			t.Errorf("feature %s has no value for any pod", name)
		}
	}
}
