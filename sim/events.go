package sim

import (
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/telemetry"
)

// simEvent is a Kubernetes event or a module event of one step.
type simEvent struct {
	k8s       bool
	t, first  int64
	reason    string
	typ       string // Normal/Warning; the level for module events
	msg       string
	count     int
	uid       string
	kind      string // involved object
	name      string
	ns        string
	node      string
	container string
	fieldPath string
	component string
	app       string
	// module events
	pod, module string
}

// podEvent records a Kubernetes event about p. Events with the same
// reason and container are one event object whose count grows, as the
// kubelet does.
func (f *Fleet) podEvent(p *pod, t int64, typ, reason, component, msg, container string) {
	key := reason + "/" + container
	st := p.kev[key]
	if st == nil {
		st = &kevState{uid: f.uid(), first: t}
		p.kev[key] = st
	}
	st.count++
	fp := ""
	switch {
	case container == initContainer:
		fp = "spec.initContainers{" + container + "}"
	case container != "":
		fp = "spec.containers{" + container + "}"
	}
	f.events = append(f.events, simEvent{
		k8s: true, t: t, first: st.first, reason: reason, typ: typ, msg: msg, count: st.count, uid: st.uid,
		kind: "Pod", name: p.name, ns: p.svc.spec.Namespace, node: p.node, container: container, fieldPath: fp,
		component: component, app: p.svc.spec.Name,
	})
}

// moduleEvent records a module-load log event of p.
func (f *Fleet) moduleEvent(p *pod, t int64, container, module, reason, msg string) {
	f.events = append(f.events, simEvent{
		t: t, first: t, reason: reason, typ: "error", msg: msg, count: 1,
		ns: p.svc.spec.Namespace, pod: p.name, container: container, module: module, app: p.svc.spec.Name, node: p.node,
	})
}

// telemetry returns the event as package stream/decode decodes its JSON.
func (e *simEvent) telemetry() telemetry.Event {
	b := labels.NewScratchBuilder(8)
	add := func(n, v string) {
		if v != "" {
			b.Add(n, v)
		}
	}
	out := telemetry.Event{T: e.t, Reason: e.reason, Type: e.typ, Count: e.count, Message: e.msg}
	if e.k8s {
		out.Source = telemetry.SourceKubernetes
		out.UID = e.uid
		add("namespace", e.ns)
		add("kind", e.kind)
		add("name", e.name)
		add("node", e.node)
		add("container", e.container)
		if e.kind == "Pod" {
			add("pod", e.name)
		}
		add("app", e.app)
	} else {
		out.Source = telemetry.SourceModule
		add("namespace", e.ns)
		add("pod", e.pod)
		add("container", e.container)
		add("module", e.module)
		add("service", e.app)
		add("node", e.node)
	}
	b.Sort()
	out.Labels = b.Labels()
	return out
}
