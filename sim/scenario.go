package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Kind names a failure scenario.
type Kind string

// Scenario kinds. Each injects a module-load failure into one pod, with or
// without a precursor; see Kind.Cause for the feature that carries the
// precursor.
const (
	// ConfigPropagation: a large scale-out overloads the config store; the
	// pod's config watch lags (config_propagation_delay_seconds rises) until
	// a config reload fails (ConfigLoadError, CrashLoopBackOff).
	ConfigPropagation Kind = "config_propagation_delay"
	// ConnectionExhaustion: missing keepalives exhaust the connection pool
	// to an upstream (connection_pool_active_connections approaches
	// connection_pool_max_connections) until the dependency is unreachable
	// at init (DependencyUnavailable, CrashLoopBackOff).
	ConnectionExhaustion Kind = "connection_exhaustion"
	// IncompatibleDependency: an upgraded dependency answers the pod's
	// calls with 404s, more and more as it rolls out, until the pod cannot
	// register (RegistrationFailed, CrashLoopBackOff).
	IncompatibleDependency Kind = "incompatible_dependency"
	// MemoryGrowth: the working set grows towards the limit until the
	// container is OOMKilled during init.
	MemoryGrowth Kind = "memory_growth_oom"
	// SidecarCPUContention: the sidecar's CPU use throttles the app
	// container (quota ratio over 1:3) until startup probes fail
	// (Unhealthy, Killing, CrashLoopBackOff).
	SidecarCPUContention Kind = "sidecar_cpu_contention"
	// VolumeSyncDelay: volume metadata sync slows the kubelet's mounts
	// until a remount times out (FailedMount, pod pending).
	VolumeSyncDelay Kind = "volume_sync_delay"
	// ImageConflict: a deploy brings an image with a conflicting library:
	// immediate CrashLoopBackOff with ModuleLoadError, no precursor.
	ImageConflict Kind = "image_conflict"
	// CrossZoneLatency: calls to dependencies in another zone slow down
	// past 200 ms until the init container fails (ModuleInitError, init
	// CrashLoopBackOff).
	CrossZoneLatency Kind = "cross_zone_latency"
)

// Kinds returns every scenario kind.
func Kinds() []Kind {
	return []Kind{ConfigPropagation, ConnectionExhaustion, IncompatibleDependency, MemoryGrowth,
		SidecarCPUContention, VolumeSyncDelay, ImageConflict, CrossZoneLatency}
}

// Feature names of FeatureConfig that carry the precursors (the Truth.Cause
// values).
const (
	FeatureConfigDelay        = "config_propagation_delay_seconds"
	FeatureConnectionPool     = "connection_pool_usage_ratio"
	FeatureDependencyNotFound = "dependency_not_found_ratio"
	FeatureMountLatency       = "volume_mount_latency_seconds"
	FeatureMemoryLimitRatio   = "memory_limit_ratio"             // in features.DefaultConfig
	FeatureCPUThrottled       = "cpu_throttled_ratio"            // in features.DefaultConfig
	FeatureDependencyLatency  = "dependency_latency_p99_seconds" // in features.DefaultConfig
	FeatureModuleLoadErrors   = "events_module_load_error"       // event feature in features.DefaultConfig
)

// Cause returns the feature that carries the kind's precursor; for
// ImageConflict, which has none, the event feature of its failure.
func (k Kind) Cause() string {
	switch k {
	case ConfigPropagation:
		return FeatureConfigDelay
	case ConnectionExhaustion:
		return FeatureConnectionPool
	case IncompatibleDependency:
		return FeatureDependencyNotFound
	case MemoryGrowth:
		return FeatureMemoryLimitRatio
	case SidecarCPUContention:
		return FeatureCPUThrottled
	case VolumeSyncDelay:
		return FeatureMountLatency
	case ImageConflict:
		return FeatureModuleLoadErrors
	case CrossZoneLatency:
		return FeatureDependencyLatency
	}
	return ""
}

// HasPrecursor reports whether the kind shows a precursor before failing.
func (k Kind) HasPrecursor() bool { return k != ImageConflict }

func (k Kind) valid() bool { return slices.Contains(Kinds(), k) }

// needsUpstream reports whether the kind acts on a dependency that is not
// the config store.
func (k Kind) needsUpstream() bool {
	return k == ConnectionExhaustion || k == IncompatibleDependency || k == CrossZoneLatency
}

// ScenarioSpec places one scenario. Zero fields take defaults.
type ScenarioSpec struct {
	Kind Kind `json:"kind"`
	// Service is the target service. Empty: New picks an eligible one
	// with the fleet's seed.
	Service string `json:"service,omitempty"`
	// Replica chooses the target pod among the service's pods at onset
	// (modulo their number).
	Replica int `json:"replica,omitempty"`
	// At is when the failure happens (for a false alarm: when the
	// precursor peaks and fades), as an offset from Options.Start.
	At time.Duration `json:"at"`
	// Lead is how long before At the precursor starts. Default 15m;
	// ignored for kinds without a precursor.
	Lead time.Duration `json:"lead,omitempty"`
	// Strength scales the precursor's amplitude, in (0, 1]. Default 1.
	Strength float64 `json:"strength,omitempty"`
	// Noise is the relative noise on the precursor, ≥ 0. Default 0.05.
	Noise float64 `json:"noise,omitempty"`
	// FalseAlarm makes the precursor fade at At without a failure.
	FalseAlarm bool `json:"false_alarm,omitempty"`
	// FailFor is how long the failure lasts before the pod recovers.
	// Default 10m.
	FailFor time.Duration `json:"fail_for,omitempty"`
}

// Scenario defaults.
const (
	DefaultLead     = 15 * time.Minute
	DefaultStrength = 1.0
	DefaultNoise    = 0.05
	DefaultFailFor  = 10 * time.Minute
)

func (s *ScenarioSpec) setDefaults() {
	if s.Lead == 0 {
		s.Lead = DefaultLead
	}
	if !s.Kind.HasPrecursor() {
		s.Lead = 0
	}
	if s.Strength == 0 {
		s.Strength = DefaultStrength
	}
	if s.Noise == 0 {
		s.Noise = DefaultNoise
	}
	if s.FailFor == 0 {
		s.FailFor = DefaultFailFor
	}
}

// window returns the part of the timeline the scenario occupies (onset to
// recovery), as offsets from the start.
func (s ScenarioSpec) window() (from, to time.Duration) {
	to = s.At + s.FailFor
	if s.FalseAlarm {
		to = s.At + fadeTime
	}
	return s.At - s.Lead, to
}

func (s ScenarioSpec) validate() error {
	switch {
	case !s.Kind.valid():
		return fmt.Errorf("unknown kind %q", s.Kind)
	case s.Lead < 0:
		return fmt.Errorf("%s: negative lead %v", s.Kind, s.Lead)
	case s.Strength < 0 || s.Strength > 1:
		return fmt.Errorf("%s: strength %v outside (0, 1]", s.Kind, s.Strength)
	case s.Noise < 0:
		return fmt.Errorf("%s: negative noise %v", s.Kind, s.Noise)
	case s.FailFor < 0:
		return fmt.Errorf("%s: negative fail_for %v", s.Kind, s.FailFor)
	case s.At-s.Lead < 0:
		return fmt.Errorf("%s: onset %v before the start", s.Kind, s.At-s.Lead)
	case s.FalseAlarm && !s.Kind.HasPrecursor():
		return fmt.Errorf("%s: a false alarm needs a precursor", s.Kind)
	}
	return nil
}

// ScheduleOptions configure Schedule. Zero fields take defaults.
type ScheduleOptions struct {
	// N is the number of scenarios. Default: as many as fit, at most 16.
	N int
	// Kinds to draw from. Default Kinds(). Every kind appears once before
	// any repeats.
	Kinds []Kind
	// Services to target. Default DefaultServices().
	Services []ServiceSpec
	// ConfigStore is the service whose lag the config scenario shows.
	// Default "etcd".
	ConfigStore string
	// MinLead and MaxLead bound the precursor lead. Defaults 10m and 25m.
	MinLead, MaxLead time.Duration
	// FalseAlarms is the fraction of precursor scenarios whose precursor
	// fades without a failure. Default 0.25 (at least one when N ≥ 3);
	// negative means none.
	FalseAlarms float64
	// NoPrecursor is the fraction of scenarios drawn from the kinds
	// without a precursor (when Kinds has any): at least one, else
	// round(NoPrecursor·N). Default 0.05: about one a day at the demo's
	// pace, which caps any predictor's recall near 0.95. Negative means
	// none.
	NoPrecursor float64
	// Noise is every scenario's noise. Default 0.05.
	Noise float64
	// FailFor is every failure's duration. Default 10m.
	FailFor time.Duration
	// WarmUp is left free at the start so that features have history.
	// Default 30m.
	WarmUp time.Duration
	// Gap is the least time between one scenario's recovery and the next
	// onset. Default 15m.
	Gap time.Duration
}

func (o *ScheduleOptions) setDefaults() {
	if len(o.Kinds) == 0 {
		o.Kinds = Kinds()
	}
	if len(o.Services) == 0 {
		o.Services = DefaultServices()
	}
	if o.ConfigStore == "" {
		o.ConfigStore = DefaultConfigStore
	}
	if o.MinLead == 0 {
		o.MinLead = 10 * time.Minute
	}
	if o.MaxLead == 0 {
		o.MaxLead = 25 * time.Minute
	}
	if o.FalseAlarms == 0 {
		o.FalseAlarms = 0.25
	}
	if o.NoPrecursor == 0 {
		o.NoPrecursor = 0.05
	}
	if o.Noise == 0 {
		o.Noise = DefaultNoise
	}
	if o.FailFor == 0 {
		o.FailFor = DefaultFailFor
	}
	if o.WarmUp == 0 {
		o.WarmUp = 30 * time.Minute
	}
	if o.Gap == 0 {
		o.Gap = 15 * time.Minute
	}
}

// Schedule places scenarios over duration without overlap: the timeline
// after the warm-up is cut into equal slots, one scenario per slot, each at
// a random time, lead, strength and eligible target. Kinds without a
// precursor make up the opts.NoPrecursor share (at least one); the
// precursor kinds come in rounds, each appearing before any repeats. A
// fraction of the precursor scenarios are false alarms: their precursor
// peaks at 0.25–0.45 of the level at which a pod fails and recedes, as a
// busy hour fills a connection pool halfway and drains it (real failures
// reach 0.8–1). The result is the same for the same arguments.
func Schedule(seed int64, duration time.Duration, opts ScheduleOptions) ([]ScenarioSpec, error) {
	opts.setDefaults()
	switch {
	case opts.MinLead <= 0 || opts.MaxLead < opts.MinLead:
		return nil, fmt.Errorf("schedule: lead range [%v, %v] is invalid", opts.MinLead, opts.MaxLead)
	case opts.N < 0:
		return nil, fmt.Errorf("schedule: negative N %d", opts.N)
	case opts.Noise < 0 || opts.FailFor < 0 || opts.WarmUp < 0 || opts.Gap < 0:
		return nil, fmt.Errorf("schedule: negative noise, fail_for, warm-up or gap")
	}
	for _, k := range opts.Kinds {
		if !k.valid() {
			return nil, fmt.Errorf("schedule: unknown kind %q", k)
		}
	}
	slot := opts.MaxLead + max(opts.FailFor, fadeTime) + opts.Gap
	fit := int((duration - opts.WarmUp) / slot)
	n := opts.N
	if n == 0 {
		n = min(fit, 16)
	}
	if n == 0 || n > fit {
		return nil, fmt.Errorf("schedule: %d scenarios of up to %v each do not fit in %v after a warm-up of %v", max(n, 1), slot, duration, opts.WarmUp)
	}
	slot = (duration - opts.WarmUp) / time.Duration(n)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5c4ed))

	// Kinds: the no-precursor share at random places, the precursor kinds
	// in rounds (each appears once before any repeats).
	var pre, noPre []Kind
	for _, k := range opts.Kinds {
		if k.HasPrecursor() {
			pre = append(pre, k)
		} else {
			noPre = append(noPre, k)
		}
	}
	nNo := 0
	switch {
	case len(pre) == 0:
		nNo = n
	case len(noPre) > 0 && opts.NoPrecursor > 0:
		nNo = min(max(1, int(opts.NoPrecursor*float64(n)+0.5)), n)
	}
	kinds := make([]Kind, 0, n)
	for len(kinds) < n-nNo {
		round := slices.Clone(pre)
		rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		kinds = append(kinds, round...)
	}
	kinds = kinds[:n-nNo]
	for i := range nNo {
		at := rng.IntN(len(kinds) + 1)
		kinds = slices.Insert(kinds, at, noPre[i%len(noPre)])
	}
	// False alarms among the precursor scenarios.
	var withPre []int
	for i, k := range kinds {
		if k.HasPrecursor() {
			withPre = append(withPre, i)
		}
	}
	nFalse := 0
	if opts.FalseAlarms > 0 {
		nFalse = int(opts.FalseAlarms*float64(len(withPre)) + 0.5)
		if nFalse == 0 && n >= 3 && len(withPre) > 1 {
			nFalse = 1
		}
		nFalse = min(nFalse, max(len(withPre)-1, 0))
	}
	rng.Shuffle(len(withPre), func(i, j int) { withPre[i], withPre[j] = withPre[j], withPre[i] })
	falseAlarm := map[int]bool{}
	for _, i := range withPre[:nFalse] {
		falseAlarm[i] = true
	}

	specs := make([]ScenarioSpec, n)
	for i, k := range kinds {
		s := ScenarioSpec{Kind: k, Noise: opts.Noise, FailFor: opts.FailFor, FalseAlarm: falseAlarm[i]}
		eligible := eligibleServices(opts.Services, k, opts.ConfigStore)
		if len(eligible) == 0 {
			return nil, fmt.Errorf("schedule: no service is eligible for %s", k)
		}
		svc := eligible[rng.IntN(len(eligible))]
		s.Service = svc.Name
		s.Replica = rng.IntN(max(svc.Replicas, 1))
		if k.HasPrecursor() {
			s.Lead = opts.MinLead + time.Duration(rng.Int64N(int64(opts.MaxLead-opts.MinLead)+1))
			s.Lead = s.Lead.Round(time.Second)
			if s.FalseAlarm {
				s.Strength = 0.25 + 0.2*rng.Float64()
			} else {
				s.Strength = 0.8 + 0.2*rng.Float64()
			}
		} else {
			s.Strength = 1
		}
		s.setDefaults()
		_, end := s.window()
		span := end - s.At + s.Lead // onset to recovery
		slack := slot - span - opts.Gap
		from := opts.WarmUp + time.Duration(i)*slot
		off := time.Duration(0)
		if slack > 0 {
			off = time.Duration(rng.Int64N(int64(slack)))
		}
		s.At = (from + off + s.Lead).Round(time.Second)
		specs[i] = s
	}
	return specs, nil
}

// eligibleServices lists the services a kind may target.
func eligibleServices(svcs []ServiceSpec, k Kind, configStore string) []ServiceSpec {
	var out []ServiceSpec
	for _, s := range svcs {
		if s.Name == configStore || s.Replicas <= 0 {
			continue
		}
		switch {
		case k == ConfigPropagation && !slices.Contains(s.Deps, configStore):
			continue
		case k.needsUpstream() && len(upstreams(s, configStore)) == 0:
			continue
		}
		out = append(out, s)
	}
	return out
}

// upstreams returns the dependencies of s other than the config store.
func upstreams(s ServiceSpec, configStore string) []string {
	var out []string
	for _, d := range s.Deps {
		if d != configStore {
			out = append(out, d)
		}
	}
	return out
}
