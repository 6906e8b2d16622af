//go:build simlab

package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/sim"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/training"
	"github.com/omen-sre/omen/training/dataset"
	"github.com/omen-sre/omen/training/storesource"
)

// TestSimLab is a research harness, not a CI test (build tag simlab):
//
//	OMEN_SIMLAB=DIR go test -tags simlab -run TestSimLab -v ./demo
//
// records simulated fleets' features through the daemon into DIR (once),
// trains models offline on the training fleet and scores the test fleets
// with the daemon's alert rule, so model and threshold variants compare in
// seconds instead of full "omen eval sim" runs.
func TestSimLab(t *testing.T) {
	dir := os.Getenv("OMEN_SIMLAB")
	if dir == "" {
		t.Fatal("set OMEN_SIMLAB to the directory that keeps the recorded fleets")
	}
	ctx := context.Background()
	envInt := func(k string, d int) int {
		if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
			return v
		}
		return d
	}
	envF := func(k string, d float64) float64 {
		if v, err := strconv.ParseFloat(os.Getenv(k), 64); err == nil {
			return v
		}
		return d
	}
	trainSeeds := strings.Split(envStr("LAB_TRAIN", "1005"), ",")
	testSeeds := strings.Split(envStr("LAB_TEST", "5"), ",")
	hist := time.Duration(envInt("LAB_HIST_H", 24)) * time.Hour
	dur := time.Duration(envInt("LAB_TEST_H", 12)) * time.Hour
	var trainDirs []string
	for _, s := range trainSeeds {
		seed, _ := strconv.ParseInt(s, 10, 64)
		d := filepath.Join(dir, fmt.Sprintf("fleet-%d-%s", seed, hist))
		labRecord(t, d, seed, hist)
		trainDirs = append(trainDirs, d)
	}
	to := training.TrainOptions{
		Window: envInt("LAB_W", 16), Horizon: Horizon, LabelHorizon: envInt("LAB_LABELH", 0), MaskEarly: os.Getenv("LAB_MASKEARLY") != "", Onset: true, Hidden: envInt("LAB_HIDDEN", 32),
		Epochs: envInt("LAB_EPOCHS", 6), MaxWindowsPerEpoch: envInt("LAB_MAXWIN", 30000),
		Seed: int64(envInt("LAB_SEED", 5)), Restarts: envInt("LAB_RESTARTS", 0), AverageFrom: envInt("LAB_SWA", 0), Progress: io.Discard, MaxPosWeight: envF("LAB_POSW", 0),
		ValSplit: os.Getenv("LAB_VALSPLIT"), ValFraction: envF("LAB_VALFRAC", 0),
		Dropout: envF("LAB_DROPOUT", 0), LearningRate: envF("LAB_LR", 0), Patience: envInt("LAB_PATIENCE", 0),
	}
	if os.Getenv("LAB_EPISODE") != "" {
		to.Alerts = &training.AlertRule{For: envInt("LAB_FOR", 2)}
	}
	// LAB_ENSEMBLE: models averaged with the trained one on the test
	// fleets; with LAB_ENSEMBLE_VAL the threshold is chosen on their
	// validation mean too (as an ensemble of them would have).
	var ensemble []*model.Model
	if ens := os.Getenv("LAB_ENSEMBLE"); ens != "" {
		for _, f := range strings.Split(ens, ",") {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			em, err := model.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			ensemble = append(ensemble, em)
		}
		if os.Getenv("LAB_ENSEMBLE_VAL") != "" {
			to.Ensemble = ensemble
		}
	}
	var srcs []training.Source
	var closers []func()
	for _, d := range trainDirs {
		st, from, upto := labOpen(t, d)
		closers = append(closers, func() { st.Close() })
		srcs = append(srcs, &storesource.Source{Store: st, From: from, To: upto, Step: Step.Milliseconds()})
	}
	to.Source = multiSource(srcs)
	t0 := time.Now()
	var m *model.Model
	var rep training.TrainReport
	var err error
	if mf := os.Getenv("LAB_MODEL"); mf != "" {
		// LAB_MODEL caches the trained model (and its report) between runs.
		if b, e := os.ReadFile(mf); e == nil {
			if m, err = model.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			rb, _ := os.ReadFile(mf + ".json")
			_ = json.Unmarshal(rb, &rep)
		}
	}
	if m == nil {
		m, rep, err = training.Train(ctx, to)
		if err == nil && os.Getenv("LAB_MODEL") != "" {
			b, _ := m.MarshalBinary()
			rb, _ := json.Marshal(rep)
			_ = os.WriteFile(os.Getenv("LAB_MODEL"), b, 0o644)
			_ = os.WriteFile(os.Getenv("LAB_MODEL")+".json", rb, 0o644)
		}
	}
	for _, c := range closers {
		c()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("trained in %.1fs: %d windows, %d positives, val AUC-PR %.3f F1 %.3f threshold %.3f (%s)",
		time.Since(t0).Seconds(), rep.TrainWindows, rep.Positives, rep.ValAUCPR, rep.ValF1, rep.Thresholds.Failure, rep.Thresholds.Method)
	if os.Getenv("LAB_NORM") != "" {
		mean, std := m.Normalization()
		for i, n := range m.Config().Features {
			t.Logf("norm %-40s mean %10.4g std %10.4g", n, mean[i], std[i])
		}
	}
	th := envF("LAB_TH", rep.Thresholds.Failure)
	// Threshold rules applied to the validation episode curve (no test
	// labels involved).
	type named struct {
		name string
		th   float64
	}
	rules := []named{{"chosen", th}}
	if c := rep.EpisodeCurve; len(c) > 0 {
		best := 0.0
		for _, e := range c {
			best = math.Max(best, e.F1)
		}
		for _, tol := range []float64{0.01, 0.02, 0.04} {
			for _, e := range c { // increasing threshold: the first is the lowest
				if e.F1 >= best-tol {
					rules = append(rules, named{fmt.Sprintf("low%.2f", tol), e.Threshold})
					break
				}
			}
		}
		for _, pmin := range []float64{0.9, 0.95} {
			for _, e := range c {
				if e.Precision >= pmin {
					rules = append(rules, named{fmt.Sprintf("P>=%.2f", pmin), e.Threshold})
					break
				}
			}
		}
		logit := func(p float64) float64 { return math.Log(p / (1 - p)) }
		for _, d := range []float64{0.1, 0.25, 0.5, 1} {
			bi, bv := 0, -1.0
			for i, e := range c {
				v := e.F1
				for _, f := range c {
					if math.Abs(logit(f.Threshold)-logit(e.Threshold)) <= d {
						v = math.Min(v, f.F1)
					}
				}
				if v > bv {
					bi, bv = i, v
				}
			}
			rules = append(rules, named{fmt.Sprintf("rob%.2f", d), c[bi].Threshold})
			// The lowest and the middle threshold whose robust F1 is within
			// 0.01 of the best.
			var near []int
			for i, e := range c {
				v := e.F1
				for _, f := range c {
					if math.Abs(logit(f.Threshold)-logit(e.Threshold)) <= d {
						v = math.Min(v, f.F1)
					}
				}
				if v >= bv-0.01 {
					near = append(near, i)
				}
			}
			rules = append(rules, named{fmt.Sprintf("roblow%.2f", d), c[near[0]].Threshold},
				named{fmt.Sprintf("robmid%.2f", d), c[near[len(near)/2]].Threshold})
		}
		// Lead floors (training.LeadFloor): the chosen threshold, lowered
		// where needed to the highest whose validation lead reaches L steps.
		chosen := training.EpisodeStats{Threshold: th}
		for _, e := range c {
			if e.Threshold == th {
				chosen = e
				t.Logf("chosen threshold on validation: P %.3f R %.3f lead median %.0f steps", e.Precision, e.Recall, e.LeadMedian)
			}
		}
		for _, L := range []int{18, 20, 22, 24, 26} {
			f, _ := training.LeadFloor(c, chosen, L)
			rules = append(rules, named{fmt.Sprintf("floor%d", L), f.Threshold})
		}
		if os.Getenv("LAB_CURVE") != "" {
			for i, e := range c {
				if i%max(len(c)/40, 1) == 0 || e.F1 >= best-0.02 {
					t.Logf("val th %.5f: onsets %d predicted %d TP %d FP %d P %.3f R %.3f F1 %.3f lead %.0f", e.Threshold, e.Episodes, e.Predicted, e.TruePositives, e.FalsePositives, e.Precision, e.Recall, e.F1, e.LeadMedian)
				}
			}
		}
	}
	for _, r := range rules {
		t.Logf("rule %-8s threshold %.5f", r.name, r.th)
	}
	// The test fleets are scored by m, or with LAB_ENSEMBLE by the mean of
	// m and those models (diagnostics).
	scoring := m
	if len(ensemble) > 0 {
		if scoring, err = model.NewEnsemble(append([]*model.Model{m}, ensemble...)...); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range testSeeds {
		seed, _ := strconv.ParseInt(s, 10, 64)
		d := filepath.Join(dir, fmt.Sprintf("fleet-%d-%s", seed, dur))
		truth := labRecord(t, d, seed, dur)
		series := labSeries(t, d, scoring)
		mx, nst := 0.0, 0
		for _, e := range series {
			nst += len(e.prob)
			for _, p := range e.prob {
				mx = math.Max(mx, p)
			}
		}
		t.Logf("test fleet %d: %d entities, %d scored steps, max prob %.3f", seed, len(series), nst, mx)
		ths := []float64{}
		for _, r := range rules {
			ths = append(ths, r.th)
		}
		ths = append(ths, 0.999, 0.998, 0.996, 0.99, 0.95)
		if os.Getenv("LAB_GRID") != "" {
			// A fine grid for comparing the precision/lead trade-off of
			// models (not for choosing a threshold: these are test labels).
			for z := 3.0; z <= 7.5; z += 0.1 {
				ths = append(ths, 1/(1+math.Exp(-z)))
			}
		}
		for _, tt := range ths {
			alerts := labAlerts(series, tt, envInt("LAB_FOR", 2), 0.8)
			r := sim.Score(truth, alerts, Horizon*Step)
			t.Logf("seed %d th %.5f: failures %d predicted %d groups %d TP %d FP %d late %d  P %.3f R %.3f lead %.0fs",
				seed, tt, r.Failures, r.Predicted, r.AlertGroups, r.TruePositives, r.FalsePositives, r.LateAlerts, r.Precision, r.Recall, r.LeadTimeMedianS)
			if tt == th && os.Getenv("LAB_TRUTH") != "" {
				labTruth(t, m, series, truth)
			}
			if tt == th && os.Getenv("LAB_FP") != "" {
				labExplainAlerts(t, m, series, alerts, truth)
			}
			if tt == th {
				var ks []string
				for k := range r.ByScenario {
					ks = append(ks, k)
				}
				sort.Strings(ks)
				line := ""
				for _, k := range ks {
					kr := r.ByScenario[k]
					line += fmt.Sprintf(" %s %d/%d %.0fs bait %d/%d;", k, kr.Predicted, kr.Failures, kr.LeadTimeMedianS, kr.BaitAlerted, kr.FalseAlarmBait)
				}
				t.Logf("seed %d kinds:%s", seed, line)
				for _, fa := range r.FalseAlerts {
					t.Logf("seed %d false alert %s %s: %s %s %+.0fs", seed, fa.FiredAt.Format(time.TimeOnly), sim.EntityName(fa.Entity, []string{"namespace", "pod"}), fa.Near, fa.Scenario, fa.OffsetS)
				}
			}
			if tt == th && os.Getenv("LAB_VERBOSE") != "" {
				b, _ := json.MarshalIndent(r.ByScenario, "", " ")
				t.Logf("%s", b)
			}
		}
	}
}

func envStr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

type multiSource []training.Source

func (m multiSource) Load(ctx context.Context) ([]*dataset.Series, error) {
	var out []*dataset.Series
	for i, s := range m {
		ss, err := s.Load(ctx)
		if err != nil {
			return nil, err
		}
		for _, x := range ss {
			x.Entity = fmt.Sprintf("%d:%s", i, x.Entity)
		}
		out = append(out, ss...)
	}
	return out, nil
}

type labMeta struct {
	From, To int64
	Truth    []sim.Truth
}

// labRecord runs a fleet through the daemon into d once and returns its
// ground truth.
func labRecord(t *testing.T, d string, seed int64, dur time.Duration) []sim.Truth {
	t.Helper()
	mf := filepath.Join(d, "meta.json")
	if b, err := os.ReadFile(mf); err == nil {
		var m labMeta
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m.Truth
	}
	ctx := context.Background()
	specs, err := schedule(seed, dur)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-dur - 2*time.Hour).Truncate(Step)
	f, err := sim.New(sim.Options{Seed: seed, Start: start, Step: Step, Scenarios: specs})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Seed: seed, Out: os.Stderr}
	o.defaults()
	o.App = app.Options{Config: SimConfig(f), ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0",
		StoragePath: filepath.Join(d, "store"), Logger: quietLogger()}
	a, err := app.New(o.App)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(a.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	if err := publishPaced(ctx, a, f, nc, o, int(dur/Step), fmt.Sprintf("fleet %d", seed)); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := labMeta{From: start.UnixMilli(), To: f.Now().UnixMilli(), Truth: f.Truth()}
	b, _ := json.Marshal(m)
	if err := os.WriteFile(mf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return m.Truth
}

func labOpen(t *testing.T, d string) (*store.Store, int64, int64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m labMeta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Path: filepath.Join(d, "store", "badger"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return st, m.From, m.To
}

type labEntity struct {
	labels map[string]string
	ts     []int64
	prob   []float64
	rows   [][]float32 // rows[i] is the vector at ts[i]
}

// labSeries scores every entity of the recorded fleet in d at every step
// with a full window, as the daemon's scorer does (windows of consecutive
// stored vectors).
func labSeries(t *testing.T, d string, m *model.Model) []labEntity {
	t.Helper()
	st, _, _ := labOpen(t, d)
	defer st.Close()
	infos, err := st.Entities()
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].ID < infos[j].ID })
	w := m.Config().Window
	nf := len(m.Config().Features)
	var out []labEntity
	for _, e := range infos {
		var rows [][]float32
		var ts []int64
		err := st.Vectors(e.ID, 0, math.MaxInt64, func(v store.Vector) error {
			r := make([]float32, len(v.Values))
			for i, x := range v.Values {
				r[i] = float32(x)
			}
			rows = append(rows, r)
			ts = append(ts, v.T)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) < w+1 {
			continue
		}
		n := len(rows) - w
		x := make([]float32, n*w*nf)
		for i := 0; i < n; i++ {
			for k := 0; k < w; k++ {
				copy(x[(i*w+k)*nf:], rows[i+1+k])
			}
		}
		prob := make([]float64, n)
		if err := m.Predict(x, n, prob); err != nil {
			t.Fatal(err)
		}
		labels := e.Labels
		if labels == nil {
			ns, pod, _ := strings.Cut(e.ID, "/")
			labels = map[string]string{"namespace": ns, "pod": pod}
		}
		out = append(out, labEntity{labels: labels, ts: ts[w:], prob: prob, rows: rows[w:]})
	}
	return out
}

// labAlerts applies the alert rule (fire after forN steps at or over th,
// resolve below ratio×th) and returns the fired alerts.
func labAlerts(es []labEntity, th float64, forN int, ratio float64) []sim.Alert {
	var out []sim.Alert
	for _, e := range es {
		firing, count := false, 0
		for i, p := range e.prob {
			if firing {
				if p < ratio*th {
					firing = false
					out[len(out)-1].ResolvedAt = time.UnixMilli(e.ts[i])
				}
				continue
			}
			if p < th {
				count = 0
				continue
			}
			count++
			if count >= forN {
				firing, count = true, 0
				out = append(out, sim.Alert{Entity: e.labels, FiredAt: time.UnixMilli(e.ts[i])})
			}
		}
	}
	return out
}

// labExplainAlerts logs every alert with its relation to the ground truth
// and the most deviating features at its time.
func labExplainAlerts(t *testing.T, m *model.Model, es []labEntity, alerts []sim.Alert, truth []sim.Truth) {
	mean, std := m.Normalization()
	names := m.Config().Features
	for _, a := range alerts {
		rel := "none"
		for _, tr := range truth {
			if !sim.Matches(a.Entity, tr.Entity) {
				continue
			}
			rel = fmt.Sprintf("%s fails=%v onset%+.0fm failure%+.0fm", tr.Scenario, tr.Fails, a.FiredAt.Sub(tr.Onset).Minutes(), a.FiredAt.Sub(tr.FailureAt).Minutes())
		}
		var top string
		for _, e := range es {
			if e.labels["pod"] != a.Entity["pod"] {
				continue
			}
			for i, ts := range e.ts {
				if ts != a.FiredAt.UnixMilli() {
					continue
				}
				type fz struct {
					n string
					z float64
				}
				var zs []fz
				j := max(i-40, 0)
				nanChange := ""
				for f, v := range e.rows[i] {
					u := e.rows[j][f]
					if (v != v) != (u != u) {
						nanChange += fmt.Sprintf(" %s:%v->%v", names[f], u, v)
						continue
					}
					zs = append(zs, fz{names[f], float64((v - u) / std[f])})
				}
				sort.Slice(zs, func(x, y int) bool {
					a, b := math.Abs(zs[x].z), math.Abs(zs[y].z)
					if a != a {
						return false
					}
					if b != b {
						return true
					}
					return a > b
				})
				for _, z := range zs[:3] {
					top += fmt.Sprintf(" d%s=%.1f", z.n, z.z)
				}
				if nanChange != "" {
					top += " NaN:" + nanChange
				}
				_ = mean
				top += fmt.Sprintf(" p=%.2f age=%dm", e.prob[i], (ts-e.ts[0])/60000)
			}
		}
		t.Logf("ALERT %s %s | %s |%s", a.Entity["pod"], a.FiredAt.UTC().Format("15:04"), rel, top)
	}
}

// labTruth logs, for every scenario, its cause feature and the failure
// probability on its pod from before the onset to the failure.
func labTruth(t *testing.T, m *model.Model, es []labEntity, truth []sim.Truth) {
	names := m.Config().Features
	for _, tr := range truth {
		fi := slices.Index(names, tr.Cause)
		for _, e := range es {
			if !sim.Matches(e.labels, tr.Entity) {
				continue
			}
			line := fmt.Sprintf("%s %s fails=%v pre=%v lead=%.0fm cause=%s:", tr.Scenario, e.labels["pod"], tr.Fails, tr.HasPrecursor, tr.FailureAt.Sub(tr.Onset).Minutes(), tr.Cause)
			for _, off := range []time.Duration{-10 * time.Minute, 0, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 20 * time.Minute} {
				at := tr.Onset.Add(off)
				if at.After(tr.FailureAt) {
					at = tr.FailureAt.Add(-Step)
				}
				for i, ts := range e.ts {
					if ts >= at.UnixMilli() {
						v := float32(math.NaN())
						if fi >= 0 {
							v = e.rows[i][fi]
						}
						line += fmt.Sprintf(" [%+.0fm %.3g p=%.2f]", time.UnixMilli(ts).Sub(tr.FailureAt).Minutes(), v, e.prob[i])
						break
					}
				}
			}
			t.Log(line)
		}
	}
}

// TestSimLabLeadReference logs, per fleet seed (LAB_SEEDS, default the
// development seeds), the median over failing precursor scenarios of the
// time from the precursor passing 0.45 of its failure level — the highest
// peak of a false-alarm precursor; glitches peak at 0.4 — to the failure.
// Before that point a precursor's level alone cannot tell a failure from a
// false alarm, so it is a reference for the median lead time a detector
// that waits for an unambiguous level reaches (the schedule only: no fleet
// runs, no test labels of a model):
//
//	go test -tags simlab -run TestSimLabLeadReference -v ./demo
func TestSimLabLeadReference(t *testing.T) {
	for _, s := range strings.Split(envStr("LAB_SEEDS", "5,6,11,12"), ",") {
		seed, _ := strconv.ParseInt(s, 10, 64)
		specs, err := schedule(seed, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var leads, above []float64
		for _, sp := range specs {
			if sp.FalseAlarm || !sp.Kind.HasPrecursor() {
				continue
			}
			// The precursor's level is Strength·x^1.5 at x, the fraction of
			// the lead gone (sim's precursorLevel, without its noise).
			leads = append(leads, sp.Lead.Seconds())
			above = append(above, sp.Lead.Seconds()*(1-math.Pow(0.45/sp.Strength, 2.0/3)))
		}
		med := func(x []float64) float64 {
			slices.Sort(x)
			if n := len(x); n%2 == 1 {
				return x[n/2]
			} else if n > 0 {
				return (x[n/2-1] + x[n/2]) / 2
			}
			return math.NaN()
		}
		t.Logf("seed %d: %d failures with a precursor, median precursor lead %.0f s, median time above 0.45 of the failure level %.0f s",
			seed, len(leads), med(leads), med(above))
	}
}
