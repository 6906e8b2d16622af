package sim

import (
	"fmt"
	"math"
	"slices"
	"time"
)

type scState int

const (
	scPending scState = iota
	scPrecursor
	scFailing
	scDone
)

// scenario is a ScenarioSpec being played.
type scenario struct {
	spec           ScenarioSpec
	idx            int // index into Fleet.truth
	svc            *service
	onset, at, end int64
	state          scState
	pod            *pod
	dep            string // the upstream the scenario acts on
	added          []*pod // scale-out pods of ConfigPropagation
	level          float64
}

func (f *Fleet) initScenarios() error {
	specs := slices.Clone(f.opts.Scenarios)
	for i := range specs {
		s := &specs[i]
		s.setDefaults()
		if err := s.validate(); err != nil {
			return fmt.Errorf("scenario %d: %w", i, err)
		}
		if s.Service == "" {
			el := eligibleServices(f.opts.Services, s.Kind, f.opts.ConfigStore)
			if len(el) == 0 {
				return fmt.Errorf("scenario %d: no service is eligible for %s", i, s.Kind)
			}
			s.Service = el[f.rng.IntN(len(el))].Name
		}
		_, ok := f.byName[s.Service]
		if !ok {
			return fmt.Errorf("scenario %d: unknown service %q", i, s.Service)
		}
		if !slices.ContainsFunc(eligibleServices(f.opts.Services, s.Kind, f.opts.ConfigStore), func(e ServiceSpec) bool { return e.Name == s.Service }) {
			return fmt.Errorf("scenario %d: service %q is not eligible for %s (config store, no replicas, or lacking the dependency it needs)", i, s.Service, s.Kind)
		}
	}
	slices.SortStableFunc(specs, func(a, b ScenarioSpec) int { return int(a.At - a.Lead - (b.At - b.Lead)) })
	for i, s := range specs {
		from, to := s.window()
		for _, o := range specs[:i] {
			if o.Service != s.Service {
				continue
			}
			if of, ot := o.window(); from < ot && of < to {
				return fmt.Errorf("scenarios %s at %v and %s at %v overlap on service %q", o.Kind, o.At, s.Kind, s.At, s.Service)
			}
		}
		svc := f.byName[s.Service]
		sc := &scenario{spec: s, idx: i, svc: svc,
			onset: f.start + from.Milliseconds(), at: f.start + s.At.Milliseconds(), end: f.start + to.Milliseconds()}
		if ups := svc.upstreams; len(ups) > 0 {
			sc.dep = ups[f.rng.IntN(len(ups))]
		}
		f.scens = append(f.scens, sc)
		f.truth = append(f.truth, Truth{
			ID:           fmt.Sprintf("s%02d-%s", i, s.Kind),
			Scenario:     string(s.Kind),
			Entity:       map[string]string{"namespace": svc.spec.Namespace, "service": svc.spec.Name},
			Cause:        s.Kind.Cause(),
			Onset:        time.UnixMilli(sc.onset).UTC(),
			FailureAt:    time.UnixMilli(sc.at).UTC(),
			EndAt:        time.UnixMilli(sc.end).UTC(),
			HasPrecursor: s.Kind.HasPrecursor(),
			Fails:        !s.FalseAlarm,
		})
	}
	return nil
}

// precursorLevel is the precursor's amplitude at t, without noise: 0
// before onset, rising as x^1.5 to Strength at the failure time, held
// while failing, fading over fadeTime for a false alarm.
func (sc *scenario) precursorLevel(t int64) float64 {
	s := sc.spec
	if !s.Kind.HasPrecursor() || t < sc.onset || t >= sc.end {
		return 0
	}
	if t < sc.at {
		x := float64(t-sc.onset) / float64(max(sc.at-sc.onset, 1))
		return s.Strength * math.Pow(x, 1.5)
	}
	if s.FalseAlarm {
		return s.Strength * (1 - float64(t-sc.at)/float64(fadeTime.Milliseconds()))
	}
	return s.Strength
}

// glitch starts a benign glitch when one is due.
func (f *Fleet) glitch(t int64) {
	if f.nextGlitch == 0 || t < f.nextGlitch {
		return
	}
	f.nextGlitch = t + f.expDuration(f.opts.GlitchEvery)
	// Forget finished glitches.
	f.scens = slices.DeleteFunc(f.scens, func(sc *scenario) bool { return sc.idx < 0 && sc.state == scDone })
	var cands []*pod
	for _, s := range f.services {
		if s.spec.Name == f.opts.ConfigStore || f.busy(s, t) {
			continue
		}
		for _, p := range s.pods {
			if p.state == stRunning && p.sc == nil {
				cands = append(cands, p)
			}
		}
	}
	if len(cands) == 0 {
		return
	}
	p := cands[f.rng.IntN(len(cands))]
	var kinds []Kind
	for _, k := range Kinds() {
		switch {
		case !k.HasPrecursor(),
			k == ConfigPropagation && !p.svc.hasCfg,
			k.needsUpstream() && len(p.svc.upstreams) == 0:
			continue
		}
		kinds = append(kinds, k)
	}
	lead := time.Duration(3+f.rng.IntN(4)) * time.Minute
	sc := &scenario{
		spec: ScenarioSpec{Kind: kinds[f.rng.IntN(len(kinds))], Lead: lead, Strength: 0.15 + 0.25*f.rng.Float64(),
			Noise: DefaultNoise, FalseAlarm: true},
		idx: -1, svc: p.svc, pod: p, onset: t, at: t + lead.Milliseconds(),
	}
	sc.end = sc.at + fadeTime.Milliseconds()
	if ups := p.svc.upstreams; len(ups) > 0 {
		sc.dep = ups[f.rng.IntN(len(ups))]
	}
	p.sc = sc
	f.scens = append(f.scens, sc)
}

// runScenarios moves every scenario through its states at t.
func (f *Fleet) runScenarios(t int64) {
	for _, sc := range f.scens {
		if sc.state == scDone {
			continue
		}
		if sc.state == scPending && t >= sc.onset {
			f.onset(sc, t)
		}
		if sc.state == scPending {
			continue
		}
		sc.level = sc.precursorLevel(t)
		if sc.level > 0 {
			sc.level = max(sc.level*f.jitter(sc.spec.Noise), 0)
		}
		if sc.state == scPrecursor && t >= sc.at && !sc.spec.FalseAlarm {
			sc.state = scFailing
			f.fail(sc, t)
		}
		if t >= sc.end {
			f.finish(sc, t)
		}
	}
}

// onset picks the target pod and starts the precursor.
func (f *Fleet) onset(sc *scenario, t int64) {
	s := sc.svc
	if sc.idx < 0 { // a glitch: its pod is chosen
		sc.state = scPrecursor
		return
	}
	var live []*pod
	for _, p := range s.pods {
		if p.state == stRunning && p.sc == nil {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		for _, p := range s.pods {
			if p.deleteAt == 0 && p.sc == nil {
				live = append(live, p)
			}
		}
	}
	if len(live) == 0 { // every pod is gone or taken: start one
		p := f.newPod(s, t)
		s.pods = append(s.pods, p)
		live = append(live, p)
	}
	p := live[sc.spec.Replica%len(live)]
	sc.pod, p.sc = p, sc
	sc.state = scPrecursor
	f.truth[sc.idx].Entity["pod"] = p.name
	switch sc.spec.Kind {
	case ConfigPropagation:
		// A large scale-out loads the config store.
		n := 0
		for _, q := range s.pods {
			if q.deleteAt == 0 {
				n++
			}
		}
		k := max(4, 2*n)
		for range k {
			q := f.newPod(s, t)
			s.pods = append(s.pods, q)
			sc.added = append(sc.added, q)
		}
		f.deployEvent(s, t, fmt.Sprintf("Scaled up replica set %s-%s to %d", s.spec.Name, s.rsHash, n+k))
	case IncompatibleDependency:
		if d := f.byName[sc.dep]; d != nil {
			f.deployEvent(d, t, fmt.Sprintf("Scaled up replica set %s-%s to %d", d.spec.Name, f.randChars(9), len(d.pods)))
		}
	}
}

// fail starts the failure of the scenario's pod.
func (f *Fleet) fail(sc *scenario, t int64) {
	p := sc.pod
	if p == nil || p.deleteAt != 0 {
		return
	}
	switch sc.spec.Kind {
	case SidecarCPUContention:
		p.mode = modeProbe
	case CrossZoneLatency:
		p.mode = modeInit
	case VolumeSyncDelay:
		p.mode = modeMount
	default:
		p.mode = modeCrash
	}
	if sc.spec.Kind == ImageConflict {
		p.image = fmt.Sprintf("registry.example.com/boutique/%s:v2.0.0", p.svc.spec.Name)
		f.podEvent(p, t, "Normal", "Pulled", "kubelet", fmt.Sprintf("Successfully pulled image %q in 1.8s", p.image), "")
	}
	p.state = stFailing
	p.ready = false
	p.backoff = 10_000
	p.nextRestart = t
	if p.mode == modeMount {
		p.restarts++
		p.phase, p.waiting = "Pending", "ContainerCreating"
		f.podEvent(p, t, "Normal", "Killing", "kubelet", "Container "+p.svc.spec.Name+" failed startup probe, will be restarted", "")
	}
}

// Module-event reasons and messages of the crash failures.
func crashReason(k Kind, dep, store string) (reason, module, msg string) {
	switch k {
	case ConfigPropagation:
		return "ConfigLoadError", "config", fmt.Sprintf("cannot load configuration: revision from %s is older than the pod's spec (watch lagging)", store)
	case ConnectionExhaustion:
		return "DependencyUnavailable", "client-" + dep, fmt.Sprintf("cannot reach dependency %s at init: connection pool exhausted (no keepalive), dial timeout", dep)
	case IncompatibleDependency:
		return "RegistrationFailed", "registry", fmt.Sprintf("cannot register with %s: 404 Not Found (incompatible API version after upgrade)", dep)
	case ImageConflict:
		return "ModuleLoadError", "grpc-native", "cannot load module grpc-native: symbol lookup error: libssl.so.3: undefined symbol EVP_MD_get_size"
	case MemoryGrowth:
		return "ModuleInitError", "cache", "module cache init aborted: out of memory"
	case CrossZoneLatency:
		return "ModuleInitError", "init-config", fmt.Sprintf("init: timed out after 5s waiting for %s (cross-zone latency over 200ms)", dep)
	case SidecarCPUContention:
		return "ModuleInitError", "bootstrap", "bootstrap did not finish before the startup probe deadline (cpu throttled)"
	}
	return "ModuleLoadError", "main", "cannot load module"
}

// failStep plays one step of a failing pod: restarts with exponential
// back-off, or periodic mount failures.
func (f *Fleet) failStep(p *pod, t int64) {
	sc := p.sc
	k := sc.spec.Kind
	app := p.svc.spec.Name
	if p.mode == modeMount {
		if t >= p.nextRestart {
			f.podEvent(p, t, "Warning", "FailedMount", "kubelet",
				"MountVolume.SetUp failed for volume \"config\" : timed out waiting for the volume metadata sync", "")
			p.nextRestart = t + 120_000
		}
		return
	}
	if t < p.nextRestart {
		switch p.mode {
		case modeInit:
			p.initWaiting = "CrashLoopBackOff"
		default:
			p.waiting = "CrashLoopBackOff"
		}
		if p.mode == modeProbe && t < p.nextRestart-p.backoff/2 {
			f.podEvent(p, t, "Warning", "Unhealthy", "kubelet", "Startup probe failed: HTTP probe failed with statuscode: 503", "")
		}
		return
	}
	// The container (or init container) starts and fails again.
	reason, module, msg := crashReason(k, sc.dep, f.opts.ConfigStore)
	switch p.mode {
	case modeInit:
		p.initRestarts++
		p.phase, p.initWaiting = "Pending", "CrashLoopBackOff"
		f.moduleEvent(p, t, initContainer, module, reason, msg)
		f.podEvent(p, t, "Warning", "BackOff", "kubelet", "Back-off restarting failed container "+initContainer+" in pod "+p.name, initContainer)
	case modeProbe:
		p.restarts++
		p.lastTerm, p.waiting = "Error", "CrashLoopBackOff"
		f.podEvent(p, t, "Warning", "Unhealthy", "kubelet", "Startup probe failed: HTTP probe failed with statuscode: 503", "")
		f.podEvent(p, t, "Normal", "Killing", "kubelet", "Container "+app+" failed startup probe, will be restarted", "")
		f.moduleEvent(p, t, app, module, reason, msg)
		f.podEvent(p, t, "Warning", "BackOff", "kubelet", "Back-off restarting failed container "+app+" in pod "+p.name, app)
	default:
		p.restarts++
		p.lastTerm, p.waiting = "Error", "CrashLoopBackOff"
		if k == MemoryGrowth {
			p.lastTerm = "OOMKilled"
			p.oom++
			f.podEvent(p, t, "Warning", "OOMKilled", "kubelet", "Container "+app+" was OOM-killed (memory limit "+fmt.Sprint(int64(p.appLimit))+" bytes)", "")
		}
		f.moduleEvent(p, t, app, module, reason, msg)
		f.podEvent(p, t, "Warning", "BackOff", "kubelet", "Back-off restarting failed container "+app+" in pod "+p.name, app)
		if k != MemoryGrowth {
			f.podEvent(p, t, "Warning", "CrashLoopBackOff", "kubelet", "Container "+app+" is in CrashLoopBackOff", app)
		}
	}
	p.nextRestart = t + p.backoff
	p.backoff = min(2*p.backoff, 300_000)
}

// finish ends the scenario: the pod recovers, a scale-out is scaled back.
func (f *Fleet) finish(sc *scenario, t int64) {
	sc.state = scDone
	sc.level = 0
	p := sc.pod
	if p != nil {
		p.sc = nil
		if p.state == stFailing {
			p.state, p.phase, p.ready = stRunning, "Running", true
			p.waiting, p.initWaiting, p.lastTerm = "", "", ""
			f.podEvent(p, t, "Normal", "Started", "kubelet", "Started container "+p.svc.spec.Name, "")
		}
	}
	if len(sc.added) > 0 {
		live := 0
		for _, q := range sc.svc.pods {
			if q.deleteAt == 0 {
				live++
			}
		}
		for _, q := range sc.added {
			if q.deleteAt == 0 {
				f.terminate(q, t)
				live--
			}
		}
		f.deployEvent(sc.svc, t, fmt.Sprintf("Scaled down replica set %s-%s to %d", sc.svc.spec.Name, sc.svc.rsHash, live))
	}
}
