package sim

import (
	"slices"
	"strings"
)

// DefaultConfigStore is the service that holds the fleet's configuration.
const DefaultConfigStore = "etcd"

// ServiceSpec describes one service: a Deployment with Replicas pods.
type ServiceSpec struct {
	Name      string
	Namespace string
	Replicas  int
	// Deps are the services this one calls (edges caller → callee).
	Deps []string
	// MemoryLimitBytes is the app container's memory limit. Default 256 MiB.
	MemoryLimitBytes float64
	// RPS is the request rate each pod serves at the daily mean. Default 20.
	RPS float64
}

// DefaultServices returns an Online-Boutique-like fleet of 12 services and
// 29 pods in namespace "boutique" (the config store etcd in "platform").
func DefaultServices() []ServiceSpec {
	const ns = "boutique"
	mi := float64(1 << 20)
	return []ServiceSpec{
		{Name: "frontend", Namespace: ns, Replicas: 3, RPS: 60, MemoryLimitBytes: 256 * mi,
			Deps: []string{"cartservice", "checkoutservice", "productcatalogservice", "recommendationservice", "currencyservice", "shippingservice", "adservice", "etcd"}},
		{Name: "checkoutservice", Namespace: ns, Replicas: 3, RPS: 8, MemoryLimitBytes: 256 * mi,
			Deps: []string{"paymentservice", "shippingservice", "currencyservice", "emailservice", "cartservice", "productcatalogservice", "etcd"}},
		{Name: "cartservice", Namespace: ns, Replicas: 3, RPS: 30, MemoryLimitBytes: 512 * mi,
			Deps: []string{"redis-cart", "etcd"}},
		{Name: "productcatalogservice", Namespace: ns, Replicas: 3, RPS: 50, MemoryLimitBytes: 128 * mi},
		{Name: "recommendationservice", Namespace: ns, Replicas: 2, RPS: 25, MemoryLimitBytes: 450 * mi,
			Deps: []string{"productcatalogservice"}},
		{Name: "currencyservice", Namespace: ns, Replicas: 3, RPS: 80, MemoryLimitBytes: 128 * mi},
		{Name: "paymentservice", Namespace: ns, Replicas: 2, RPS: 5, MemoryLimitBytes: 128 * mi,
			Deps: []string{"etcd"}},
		{Name: "shippingservice", Namespace: ns, Replicas: 2, RPS: 15, MemoryLimitBytes: 128 * mi,
			Deps: []string{"etcd"}},
		{Name: "emailservice", Namespace: ns, Replicas: 2, RPS: 5, MemoryLimitBytes: 128 * mi},
		{Name: "adservice", Namespace: ns, Replicas: 2, RPS: 20, MemoryLimitBytes: 300 * mi},
		{Name: "redis-cart", Namespace: ns, Replicas: 1, RPS: 60, MemoryLimitBytes: 256 * mi},
		{Name: "etcd", Namespace: "platform", Replicas: 3, RPS: 40, MemoryLimitBytes: 1024 * mi},
	}
}

// ScaleReplicas returns svcs with every replica count multiplied by k (for
// larger fleets).
func ScaleReplicas(svcs []ServiceSpec, k int) []ServiceSpec {
	out := slices.Clone(svcs)
	for i := range out {
		out[i].Replicas *= k
		out[i].Deps = slices.Clone(out[i].Deps)
	}
	return out
}

// Edge is a call edge of the service dependency graph, caller → callee.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func graphOf(svcs []ServiceSpec) []Edge {
	var es []Edge
	for _, s := range svcs {
		for _, d := range s.Deps {
			es = append(es, Edge{From: s.Name, To: d})
		}
	}
	slices.SortFunc(es, func(a, b Edge) int {
		if c := strings.Compare(a.From, b.From); c != 0 {
			return c
		}
		return strings.Compare(a.To, b.To)
	})
	return es
}
