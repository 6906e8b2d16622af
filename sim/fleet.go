package sim

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/omen-sre/omen/telemetry"
)

// Defaults of Options.
const (
	DefaultStep        = 15 * time.Second
	DefaultNodes       = 6
	DefaultZones       = 3
	DefaultDeployEvery = 2 * time.Hour
	DefaultGlitchEvery = time.Hour
)

// DefaultStart is the simulated start time when Options.Start is zero.
var defaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fadeTime is how long a false alarm's precursor takes to fade.
const fadeTime = 5 * time.Minute

// Options configure a Fleet. Zero fields take defaults.
type Options struct {
	// Seed makes the fleet deterministic: the same options give the same
	// ticks.
	Seed int64
	// Start is the simulated time of the first tick. Default
	// 2026-01-01T00:00:00Z. It is truncated to the millisecond.
	Start time.Time
	// Step is the simulated time between ticks (the scrape interval).
	// Default 15s; at least 1s.
	Step time.Duration
	// Services make up the fleet. Default DefaultServices().
	Services []ServiceSpec
	// ConfigStore names the config store service. Default "etcd".
	ConfigStore string
	// Scenarios are the failures to inject, e.g. from Schedule.
	Scenarios []ScenarioSpec
	// Nodes and Zones the pods are spread over. Defaults 6 and 3.
	Nodes, Zones int
	// DeployEvery is the mean simulated time between background rolling
	// deploys (of services no scenario is using). Default 2h; negative
	// disables them.
	DeployEvery time.Duration
	// GlitchEvery is the mean simulated time between benign glitches: a
	// random pod of a service no scenario is using shows a short (3–6 min
	// rise, 5 min fade), weak (0.15–0.4 of the failure level) precursor of a random kind and never fails.
	// Glitches are noise, not in Truth: alerts on them are false
	// positives. Default 1h; negative disables them.
	GlitchEvery time.Duration
}

// Truth is the ground truth of one scenario.
type Truth struct {
	ID       string `json:"id"`
	Scenario string `json:"scenario"`
	// Entity locates the target: namespace, pod and service. The pod is
	// known from the scenario's onset on; before that only namespace and
	// service are set.
	Entity map[string]string `json:"entity"`
	// Cause is the feature (see FeatureConfig) that carries the
	// precursor; for scenarios without one, the event feature of the
	// failure.
	Cause string `json:"cause"`
	// Onset is when the precursor starts (FailureAt when there is none).
	Onset time.Time `json:"onset"`
	// FailureAt is when the pod fails (for a false alarm: when the
	// precursor peaks and starts to fade).
	FailureAt time.Time `json:"failure_at"`
	// EndAt is when the pod has recovered (or the precursor has faded).
	EndAt        time.Time `json:"end_at"`
	HasPrecursor bool      `json:"has_precursor"`
	Fails        bool      `json:"fails"`
}

// Tick is the output of one simulated step.
type Tick struct {
	// Seq numbers the ticks from 0.
	Seq int
	// Time is the simulated time of every sample of the tick.
	Time time.Time
	// Samples holds one sample per series, grouped by metric family.
	Samples []telemetry.Sample
	// Events are the Kubernetes and module events of the step.
	Events []telemetry.Event

	seed int64
	raw  []simEvent
}

// Fleet is a simulated fleet. Advance, Now, Truth, Graph and the Handler
// are safe for concurrent use.
type Fleet struct {
	mu       sync.Mutex
	opts     Options
	rng      *rand.Rand
	start    int64
	step     int64
	stepSec  float64
	seq      int
	now      int64
	services []*service
	byName   map[string]*service
	scens    []*scenario
	truth    []Truth
	nodes    []node
	events   []simEvent
	last     *Tick

	nextDeploy int64
	nextGlitch int64
	podSerial  int
}

type node struct{ name, zone string }

type service struct {
	spec      ServiceSpec
	rsHash    string
	pods      []*pod
	upstreams []string
	hasCfg    bool
	baseLat   float64 // seconds, median of dependency calls
}

// New builds a fleet: the pods of every service are up and running at
// Start.
func New(opts Options) (*Fleet, error) {
	if opts.Start.IsZero() {
		opts.Start = defaultStart
	}
	if opts.Step == 0 {
		opts.Step = DefaultStep
	}
	if len(opts.Services) == 0 {
		opts.Services = DefaultServices()
	}
	if opts.ConfigStore == "" {
		opts.ConfigStore = DefaultConfigStore
	}
	if opts.Nodes == 0 {
		opts.Nodes = DefaultNodes
	}
	if opts.Zones == 0 {
		opts.Zones = DefaultZones
	}
	if opts.DeployEvery == 0 {
		opts.DeployEvery = DefaultDeployEvery
	}
	if opts.GlitchEvery == 0 {
		opts.GlitchEvery = DefaultGlitchEvery
	}
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("sim options: %w", err)
	}
	f := &Fleet{
		opts:    opts,
		rng:     rand.New(rand.NewPCG(uint64(opts.Seed), 0x6f6d656e)),
		start:   opts.Start.UnixMilli(),
		step:    opts.Step.Milliseconds(),
		stepSec: opts.Step.Seconds(),
		byName:  map[string]*service{},
	}
	f.now = f.start - f.step
	for i := range opts.Nodes {
		f.nodes = append(f.nodes, node{name: fmt.Sprintf("node-%d", i+1), zone: fmt.Sprintf("zone-%c", 'a'+i%opts.Zones)})
	}
	for _, spec := range opts.Services {
		spec.Deps = slices.Clone(spec.Deps)
		if spec.MemoryLimitBytes == 0 {
			spec.MemoryLimitBytes = 256 << 20
		}
		if spec.RPS == 0 {
			spec.RPS = 20
		}
		s := &service{spec: spec, rsHash: f.rsHash(), upstreams: upstreams(spec, opts.ConfigStore),
			hasCfg: slices.Contains(spec.Deps, opts.ConfigStore), baseLat: 0.004 + 0.012*f.rng.Float64()}
		f.services = append(f.services, s)
		f.byName[spec.Name] = s
	}
	for _, s := range f.services {
		for range s.spec.Replicas {
			p := f.newPod(s, f.start)
			p.phase, p.ready, p.waiting = "Running", true, ""
			p.createdAt = f.start - int64(time.Hour/time.Millisecond)
			s.pods = append(s.pods, p)
		}
	}
	if err := f.initScenarios(); err != nil {
		return nil, fmt.Errorf("sim scenarios: %w", err)
	}
	if opts.DeployEvery > 0 {
		f.nextDeploy = f.start + f.expDuration(opts.DeployEvery)
	}
	if opts.GlitchEvery > 0 {
		f.nextGlitch = f.start + f.expDuration(opts.GlitchEvery)
	}
	return f, nil
}

func (o *Options) validate() error {
	var errs []error
	if o.Step < time.Second {
		errs = append(errs, fmt.Errorf("step %v: must be at least 1s", o.Step))
	}
	if o.Nodes < 0 || o.Zones < 0 {
		errs = append(errs, fmt.Errorf("nodes %d and zones %d: must not be negative", o.Nodes, o.Zones))
	}
	if o.Zones > o.Nodes {
		errs = append(errs, fmt.Errorf("zones %d: more than nodes %d", o.Zones, o.Nodes))
	}
	seen := map[string]bool{}
	for _, s := range o.Services {
		switch {
		case s.Name == "" || !validName(s.Name):
			errs = append(errs, fmt.Errorf("service %q: name must be a DNS label", s.Name))
		case seen[s.Name]:
			errs = append(errs, fmt.Errorf("service %q: given twice", s.Name))
		case s.Namespace == "" || !validName(s.Namespace):
			errs = append(errs, fmt.Errorf("service %q: namespace %q must be a DNS label", s.Name, s.Namespace))
		case s.Replicas < 0 || s.MemoryLimitBytes < 0 || s.RPS < 0:
			errs = append(errs, fmt.Errorf("service %q: negative replicas, memory limit or rps", s.Name))
		}
		seen[s.Name] = true
	}
	for _, s := range o.Services {
		for _, d := range s.Deps {
			if !seen[d] {
				errs = append(errs, fmt.Errorf("service %q: unknown dependency %q", s.Name, d))
			}
		}
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(s)-1
		if !ok {
			return false
		}
	}
	return true
}

const hashChars = "bcdfghjklmnpqrstvwxz2456789"

func (f *Fleet) randChars(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = hashChars[f.rng.IntN(len(hashChars))]
	}
	return string(b)
}

func (f *Fleet) rsHash() string { return f.randChars(9) }

func (f *Fleet) uid() string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", f.rng.Uint32(), f.rng.IntN(1<<16), f.rng.IntN(1<<12), f.rng.IntN(1<<12), f.rng.Uint64()&(1<<48-1))
}

// expDuration draws an exponential duration with the given mean, in ms
// rounded to the step (at least one step).
func (f *Fleet) expDuration(mean time.Duration) int64 {
	d := int64(f.rng.ExpFloat64() * float64(mean.Milliseconds()))
	return max(d/f.step, 1) * f.step
}

// Now returns the simulated time of the latest tick (Start before the
// first Advance).
func (f *Fleet) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.UnixMilli(max(f.now, f.start)).UTC()
}

// Step returns the simulated time between ticks.
func (f *Fleet) Step() time.Duration { return f.opts.Step }

// Seed returns the fleet's seed.
func (f *Fleet) Seed() int64 { return f.opts.Seed }

// Truth returns the ground truth of every scenario, ordered by onset. The
// maps are copies.
func (f *Fleet) Truth() []Truth {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.truth)
	for i := range out {
		out[i].Entity = maps.Clone(out[i].Entity)
	}
	return out
}

// Graph returns the service dependency edges (caller → callee), sorted.
func (f *Fleet) Graph() []Edge { return graphOf(f.opts.Services) }

// Pods returns the names of the live pods ("namespace/pod"), sorted.
func (f *Fleet) Pods() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.services {
		for _, p := range s.pods {
			out = append(out, s.spec.Namespace+"/"+p.name)
		}
	}
	slices.Sort(out)
	return out
}

// Advance simulates one step and returns its samples and events. The first
// call returns the tick at Start.
func (f *Fleet) Advance() Tick {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now += f.step
	t := f.now
	f.events = nil

	f.lifecycle(t)
	f.glitch(t)
	f.runScenarios(t)
	n := 0
	for _, s := range f.services {
		for _, p := range s.pods {
			f.updatePod(p, t)
			n += len(p.series)
		}
	}
	tick := &Tick{Seq: f.seq, Time: time.UnixMilli(t).UTC(), seed: f.opts.Seed, raw: f.events}
	tick.Samples = f.emit(t, n)
	tick.Events = make([]telemetry.Event, len(f.events))
	for i := range f.events {
		tick.Events[i] = f.events[i].telemetry()
	}
	f.seq++
	f.last = tick
	return *tick
}

// emit returns the samples of every live series, grouped by family.
func (f *Fleet) emit(t int64, n int) []telemetry.Sample {
	var counts [numFamilies]int
	for _, s := range f.services {
		for _, p := range s.pods {
			for i := range p.series {
				counts[p.series[i].fam]++
			}
		}
	}
	var offs [numFamilies]int
	o := 0
	for i, c := range counts {
		offs[i] = o
		o += c
	}
	out := make([]telemetry.Sample, n)
	for _, s := range f.services {
		for _, p := range s.pods {
			for i := range p.series {
				sr := &p.series[i]
				out[offs[sr.fam]] = telemetry.Sample{Labels: sr.lset, T: t, V: sr.get()}
				offs[sr.fam]++
			}
		}
	}
	// NaN marks a series that is absent at this step.
	return slices.DeleteFunc(out, func(s telemetry.Sample) bool { return math.IsNaN(s.V) })
}

// load is the daily traffic pattern: 1 on average, peaking 15 h after
// Start (at 15:00 with the default Start, a midnight). It follows the time
// since Start, not the time of day, so that a fleet's values depend on its
// seed alone: the demo and omen eval sim start their fleets at the wall
// clock, and a pattern of the time of day gave each run different
// training data (different losses and models for the same seeds).
func (f *Fleet) load(t int64) float64 {
	h := float64((t-f.start)%(24*3600*1000)) / 3600e3
	return 1 + 0.45*math.Sin(2*math.Pi*(h-9)/24)
}

// jitter returns 1 + sd·N(0,1), at least 0.
func (f *Fleet) jitter(sd float64) float64 { return max(0, 1+sd*f.rng.NormFloat64()) }

// lifecycle runs background deploys and pod start-ups and removals.
func (f *Fleet) lifecycle(t int64) {
	for _, s := range f.services {
		kept := s.pods[:0]
		for _, p := range s.pods {
			if p.deleteAt != 0 && t >= p.deleteAt {
				continue
			}
			kept = append(kept, p)
			if p.state == stStarting && t >= p.runningAt {
				p.state, p.phase, p.ready, p.waiting = stRunning, "Running", true, ""
				f.podEvent(p, t, "Normal", "Pulled", "kubelet", fmt.Sprintf("Container image %q already present on machine", p.image), "")
				f.podEvent(p, t, "Normal", "Created", "kubelet", "Created container "+s.spec.Name, "")
				f.podEvent(p, t, "Normal", "Started", "kubelet", "Started container "+s.spec.Name, "")
			}
		}
		clear(s.pods[len(kept):])
		s.pods = kept
	}
	if f.nextDeploy == 0 || t < f.nextDeploy {
		return
	}
	f.nextDeploy = t + f.expDuration(f.opts.DeployEvery)
	var free []*service
	for _, s := range f.services {
		if s.spec.Name != f.opts.ConfigStore && s.spec.Replicas > 0 && !f.busy(s, t) {
			free = append(free, s)
		}
	}
	if len(free) == 0 {
		return
	}
	f.rollingDeploy(free[f.rng.IntN(len(free))], t)
}

// busy reports whether a scenario uses s around t.
func (f *Fleet) busy(s *service, t int64) bool {
	const margin = int64(30 * time.Minute / time.Millisecond)
	for _, sc := range f.scens {
		if sc.svc == s && t >= sc.onset-margin && t <= sc.end+margin {
			return true
		}
	}
	return false
}

// rollingDeploy replaces every pod of s by a pod of a new replica set.
func (f *Fleet) rollingDeploy(s *service, t int64) {
	old := s.rsHash
	s.rsHash = f.rsHash()
	n := 0
	for _, p := range s.pods {
		if p.deleteAt == 0 {
			n++
		}
	}
	f.deployEvent(s, t, fmt.Sprintf("Scaled up replica set %s-%s to %d", s.spec.Name, s.rsHash, n))
	for _, p := range s.pods {
		if p.deleteAt == 0 {
			f.terminate(p, t)
		}
	}
	for range n {
		s.pods = append(s.pods, f.newPod(s, t))
	}
	f.deployEvent(s, t, fmt.Sprintf("Scaled down replica set %s-%s to 0", s.spec.Name, old))
}

// terminationGrace is how long a deleted pod lingers, not ready (ms).
const terminationGrace = 30_000

// terminate starts deleting p: not ready, gone 30s later.
func (f *Fleet) terminate(p *pod, t int64) {
	p.deleteAt = t + terminationGrace
	p.ready = false
	p.state = stTerminating
	f.podEvent(p, t, "Normal", "Killing", "kubelet", "Stopping container "+p.svc.spec.Name, "")
}

func (f *Fleet) deployEvent(s *service, t int64, msg string) {
	f.events = append(f.events, simEvent{
		k8s: true, t: t, first: t, reason: "ScalingReplicaSet", typ: "Normal", count: 1, msg: msg,
		uid: f.uid(), kind: "Deployment", name: s.spec.Name, ns: s.spec.Namespace,
		component: "deployment-controller", app: s.spec.Name,
	})
}

// newPod creates a starting pod of s on a random node.
func (f *Fleet) newPod(s *service, t int64) *pod {
	nd := f.nodes[f.rng.IntN(len(f.nodes))]
	f.podSerial++
	p := &pod{
		svc: s, name: s.spec.Name + "-" + s.rsHash + "-" + f.randChars(5), node: nd.name, zone: nd.zone,
		uid: f.uid(), createdAt: t, runningAt: t + (2+int64(f.rng.IntN(3)))*f.step,
		state: stStarting, phase: "Pending", waiting: "ContainerCreating",
		image:    fmt.Sprintf("registry.example.com/boutique/%s:v1.%d.0", s.spec.Name, 4+f.podSerial%3),
		appLimit: s.spec.MemoryLimitBytes, sideLimit: 128 << 20,
		memBase: 0.35 + 0.15*f.rng.Float64(), thrBase: 0.005 + 0.02*f.rng.Float64(),
		kev: map[string]*kevState{},
	}
	p.appMem = p.appLimit * p.memBase * 0.6
	p.sideMem = 40 << 20
	for _, d := range s.upstreams {
		p.deps = append(p.deps, &podDep{name: d, poolMax: 32, poolBase: 0.15 + 0.2*f.rng.Float64()})
	}
	p.cfgDelay = 0.05
	p.buildSeries()
	return p
}
