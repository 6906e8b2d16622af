package sim

import (
	"math"
	"strconv"
	"strings"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/labels"
)

type podState int

const (
	stStarting podState = iota
	stRunning
	stFailing
	stTerminating
)

// failure modes.
type mode int

const (
	modeCrash mode = iota // container exits at start: CrashLoopBackOff
	modeProbe             // startup probe fails: Unhealthy, Killing, CrashLoopBackOff
	modeInit              // init container fails
	modeMount             // volume cannot be mounted: Pending, FailedMount
)

// Histogram buckets of http_client_request_duration_seconds.
var latencyBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1}

const initContainer = "init-config"
const sidecar = "istio-proxy"

type podDep struct {
	name                          string
	ok, nf, errs                  float64
	poolActive, poolMax, poolBase float64
}

type kevState struct {
	uid   string
	first int64
	count int
}

type pod struct {
	svc                    *service
	name, node, zone, uid  string
	image                  string
	createdAt, runningAt   int64
	deleteAt               int64
	state                  podState
	phase                  string
	ready                  bool
	waiting, initWaiting   string
	lastTerm               string
	restarts, initRestarts float64
	oom                    float64

	appCPU, sideCPU                          float64
	appPeriods, appThr, sidePeriods, sideThr float64
	appMem, sideMem, appLimit, sideLimit     float64
	memBase, thrBase                         float64
	reqOK, req5xx                            float64
	hist                                     [9]float64 // cumulative, last is +Inf
	histSum                                  float64
	deps                                     []*podDep
	cfgDelay                                 float64
	mountSum, mountCount                     float64

	// failure
	sc          *scenario
	mode        mode
	nextRestart int64
	backoff     int64
	kev         map[string]*kevState

	series []series
}

type series struct {
	fam  family
	lset labels.Labels
	get  func() float64
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Waiting and terminated reasons exposed as 0/1 series (kube-state-metrics
// v1 style: every reason present, so that a cleared reason reads 0 instead
// of lingering for PromQL's lookback).
var (
	waitingReasons    = []string{"ContainerCreating", "CrashLoopBackOff", "CreateContainerConfigError", "ErrImagePull"}
	terminatedReasons = []string{"Error", "OOMKilled"}
	podPhases         = []string{"Pending", "Running", "Succeeded", "Failed", "Unknown"}
)

func (p *pod) buildSeries() {
	s := p.svc
	ns, app := s.spec.Namespace, s.spec.Name
	base := func(name string, kv ...string) labels.Labels {
		b := labels.NewScratchBuilder(8)
		b.Add(pmodel.MetricNameLabel, name)
		b.Add("namespace", ns)
		b.Add("pod", p.name)
		b.Add("service", app)
		for i := 0; i+1 < len(kv); i += 2 {
			b.Add(kv[i], kv[i+1])
		}
		b.Sort()
		return b.Labels()
	}
	add := func(fam family, name string, get func() float64, kv ...string) {
		p.series = append(p.series, series{fam: fam, lset: base(name, kv...), get: get})
	}
	one := func() float64 { return 1 }

	add(famPodInfo, "kube_pod_info", one, "node", p.node, "zone", p.zone, "uid", p.uid,
		"created_by_kind", "ReplicaSet", "created_by_name", app+"-"+s.rsHash)
	// Present only while the pod is being deleted, as kube-state-metrics
	// exposes it (NaN: the sample is left out).
	add(famDeletion, "kube_pod_deletion_timestamp", func() float64 {
		if p.state != stTerminating {
			return math.NaN()
		}
		return float64(p.deleteAt-terminationGrace) / 1000
	})
	add(famReady, "kube_pod_status_ready", func() float64 { return b2f(p.ready) }, "condition", "true")
	add(famReady, "kube_pod_status_ready", func() float64 { return b2f(!p.ready) }, "condition", "false")
	add(famReady, "kube_pod_status_ready", func() float64 { return 0 }, "condition", "unknown")
	for _, ph := range podPhases {
		add(famPhase, "kube_pod_status_phase", func() float64 { return b2f(p.phase == ph) }, "phase", ph)
	}
	add(famRestarts, "kube_pod_container_status_restarts_total", func() float64 { return p.restarts }, "container", app)
	for _, r := range waitingReasons {
		add(famWaiting, "kube_pod_container_status_waiting_reason", func() float64 { return b2f(p.waiting == r) }, "container", app, "reason", r)
	}
	for _, r := range terminatedReasons {
		add(famLastTerm, "kube_pod_container_status_last_terminated_reason", func() float64 { return b2f(p.lastTerm == r) }, "container", app, "reason", r)
	}
	add(famInitRestarts, "kube_pod_init_container_status_restarts_total", func() float64 { return p.initRestarts }, "container", initContainer)
	add(famInitWaiting, "kube_pod_init_container_status_waiting_reason", func() float64 { return b2f(p.initWaiting == "CrashLoopBackOff") }, "container", initContainer, "reason", "CrashLoopBackOff")

	for _, c := range []struct {
		name                      string
		mem, limit, cpu, per, thr *float64
	}{
		{app, &p.appMem, &p.appLimit, &p.appCPU, &p.appPeriods, &p.appThr},
		{sidecar, &p.sideMem, &p.sideLimit, &p.sideCPU, &p.sidePeriods, &p.sideThr},
	} {
		add(famMem, "container_memory_working_set_bytes", func() float64 { return math.Round(*c.mem) }, "container", c.name)
		add(famMemLimit, "container_spec_memory_limit_bytes", func() float64 { return *c.limit }, "container", c.name)
		add(famCPU, "container_cpu_usage_seconds_total", func() float64 { return *c.cpu }, "container", c.name)
		add(famPeriods, "container_cpu_cfs_periods_total", func() float64 { return math.Round(*c.per) }, "container", c.name)
		add(famThrottled, "container_cpu_cfs_throttled_periods_total", func() float64 { return math.Round(*c.thr) }, "container", c.name)
	}
	add(famOOM, "container_oom_events_total", func() float64 { return p.oom }, "container", app)
	add(famHTTP, "http_requests_total", func() float64 { return math.Round(p.reqOK) }, "container", app, "code", "200")
	add(famHTTP, "http_requests_total", func() float64 { return math.Round(p.req5xx) }, "container", app, "code", "500")
	for _, d := range p.deps {
		add(famClientReq, "http_client_requests_total", func() float64 { return math.Round(d.ok) }, "container", app, "dependency", d.name, "code", "200")
		add(famClientReq, "http_client_requests_total", func() float64 { return math.Round(d.nf) }, "container", app, "dependency", d.name, "code", "404")
		add(famClientReq, "http_client_requests_total", func() float64 { return math.Round(d.errs) }, "container", app, "dependency", d.name, "code", "503")
	}
	for i, le := range latencyBuckets {
		add(famClientDur, "http_client_request_duration_seconds_bucket", func() float64 { return math.Round(p.hist[i]) }, "container", app, "le", formatLe(le))
	}
	add(famClientDur, "http_client_request_duration_seconds_bucket", func() float64 { return math.Round(p.hist[len(latencyBuckets)]) }, "container", app, "le", "+Inf")
	add(famClientDur, "http_client_request_duration_seconds_sum", func() float64 { return p.histSum }, "container", app)
	add(famClientDur, "http_client_request_duration_seconds_count", func() float64 { return math.Round(p.hist[len(latencyBuckets)]) }, "container", app)
	for _, d := range p.deps {
		add(famPoolActive, "connection_pool_active_connections", func() float64 { return math.Round(d.poolActive) }, "container", app, "pool", d.name)
		add(famPoolMax, "connection_pool_max_connections", func() float64 { return d.poolMax }, "container", app, "pool", d.name)
	}
	if s.hasCfg {
		add(famCfgDelay, "config_propagation_delay_seconds", func() float64 { return p.cfgDelay }, "container", app, "store", "etcd")
	}
	add(famMount, "storage_operation_duration_seconds_sum", func() float64 { return p.mountSum }, "operation_name", "volume_mount", "volume_plugin", "kubernetes.io/configmap")
	add(famMount, "storage_operation_duration_seconds_count", func() float64 { return p.mountCount }, "operation_name", "volume_mount", "volume_plugin", "kubernetes.io/configmap")
}

// formatLe formats a bucket bound as Prometheus normalises it ("1.0",
// "0.25").
func formatLe(le float64) string {
	s := strconv.FormatFloat(le, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// normCDF is the standard normal distribution function.
func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// updatePod advances p's counters and gauges by one step.
func (f *Fleet) updatePod(p *pod, t int64) {
	dt := f.stepSec
	L := f.load(t)
	var e float64
	var kind Kind
	if sc := p.sc; sc != nil && t >= sc.onset {
		e, kind = sc.level, sc.spec.Kind
	}
	if p.state == stFailing {
		f.failStep(p, t)
	}
	serving := p.state == stRunning || p.state == stTerminating && p.ready

	// CPU: the app and the sidecar; the sidecar's contention throttles
	// the app.
	appCores, sideCores := 0.0, 0.01
	if p.state == stRunning || p.state == stTerminating {
		appCores = (0.04 + 0.12*L) * f.jitter(0.1)
		sideCores = (0.015 + 0.03*L) * f.jitter(0.1)
	} else if p.state == stStarting || p.mode == modeProbe {
		appCores = 0.2 * f.jitter(0.1)
	}
	thr := p.thrBase * L * f.jitter(0.3)
	if kind == SidecarCPUContention {
		sideCores += 0.6 * e * f.jitter(0.05)
		thr += 0.65 * e
	}
	thr = min(max(thr, 0), 0.98)
	p.appCPU += appCores * dt
	p.sideCPU += sideCores * dt
	periods := dt / 0.1
	p.appPeriods += periods
	p.appThr += periods * thr
	p.sidePeriods += periods
	p.sideThr += periods * min(0.01*f.jitter(0.5), 1)

	// Memory.
	target := p.appLimit * p.memBase * (0.9 + 0.1*L)
	switch {
	case kind == MemoryGrowth && p.state != stFailing:
		target = p.appLimit * (p.memBase + (0.97-p.memBase)*e)
	case p.state == stFailing && p.mode == modeCrash && kind == MemoryGrowth:
		target = p.appLimit * 0.95
	case p.state == stFailing || p.state == stStarting:
		target = p.appLimit * 0.1
	}
	p.appMem += (target - p.appMem) * 0.5
	p.appMem *= f.jitter(0.005)
	p.appMem = min(p.appMem, p.appLimit)
	p.sideMem = (38 << 20) * f.jitter(0.01)

	// Requests served.
	if serving {
		rps := p.svc.spec.RPS * L * f.jitter(0.05)
		errRate := 0.001 * f.jitter(0.5)
		p.reqOK += rps * dt * (1 - errRate)
		p.req5xx += rps * dt * errRate
	}

	// Calls to dependencies: latency histogram, codes, pools.
	if serving || p.state == stStarting {
		calls := 0.0
		med := p.svc.baseLat
		if kind == CrossZoneLatency {
			med += 0.32 * e * f.jitter(0.05)
		}
		for _, d := range p.deps {
			c := p.svc.spec.RPS * L * 0.5 * dt * f.jitter(0.05)
			if !serving {
				c *= 0.1
			}
			calls += c
			nf := 0.0005
			if kind == IncompatibleDependency && d.name == p.sc.dep {
				nf += 0.6 * e
			}
			nf = min(nf*f.jitter(0.1), 1)
			er := 0.001 * f.jitter(0.3)
			d.ok += c * max(1-nf-er, 0)
			d.nf += c * nf
			d.errs += c * er
			use := d.poolBase * L * f.jitter(0.05)
			if kind == ConnectionExhaustion && d.name == p.sc.dep {
				use += (1 - use) * e
			}
			d.poolActive = min(max(use, 0), 1) * d.poolMax
		}
		if calls > 0 {
			const sigma = 0.45
			for i, le := range latencyBuckets {
				p.hist[i] += math.Round(calls * normCDF((math.Log(le)-math.Log(med))/sigma))
			}
			p.hist[len(latencyBuckets)] += math.Round(calls)
			// Make the cumulative buckets consistent after rounding.
			for i := len(latencyBuckets) - 1; i >= 0; i-- {
				p.hist[i] = min(p.hist[i], p.hist[i+1])
			}
			p.histSum += calls * med * math.Exp(sigma*sigma/2)
		}
	} else {
		for _, d := range p.deps {
			d.poolActive = 0
		}
	}

	// Config watch lag.
	if p.svc.hasCfg {
		p.cfgDelay = 0.04 * f.jitter(0.3)
		if kind == ConfigPropagation {
			p.cfgDelay += 28 * e
		}
	}

	// Periodic configmap volume syncs.
	if p.state != stTerminating {
		n := dt / 60
		lat := 0.03 * f.jitter(0.2)
		if kind == VolumeSyncDelay {
			lat += 22 * e
		}
		p.mountCount += n
		p.mountSum += n * lat
	}
}
