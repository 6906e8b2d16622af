package ui

import (
	"testing"

	"github.com/omen-sre/omen/api"
)

// TestInServiceShortcuts: inService and serviceIn, which strip a pod
// name's suffixes only when it begins with a name asked for, answer as
// api.ServiceOf and the service labels do.
func TestInServiceShortcuts(t *testing.T) {
	labelSets := []map[string]string{
		nil,
		{},
		{"pod": "cartservice-7d9f8b6c4-x2k9p"},
		{"pod": "cartservice"},
		{"pod": "cart-abcde"},
		{"pod": "redis-0", "namespace": "shop"},
		{"app": "cart", "pod": "cartservice-7d9f8b6c4-x2k9p"},
		{"service": "checkout", "app": "cart"},
		{"service": "", "app": "cart"},
		{"module": "db"},
		{"namespace": "shop", "instance": "10.0.0.1:9100"},
		{"app_kubernetes_io_name": "frontend", "pod": "frontend-5d4c7b9f6-abcde"},
	}
	names := []string{"cart", "cartservice", "checkout", "redis-0", "redis", "db", "shop", "frontend", "10.0.0.1:9100", "nothing"}
	for _, ls := range labelSets {
		for _, name := range names {
			want := api.ServiceOf(ls) == name
			for _, k := range api.ServiceLabels {
				want = want || ls[k] == name
			}
			if got := inService(ls, name); got != want {
				t.Errorf("inService(%v, %q) = %v, want %v", ls, name, got, want)
			}
		}
		for _, want := range []map[string]bool{{}, {"cart": true}, {"cartservice": true, "redis": true}, {"redis-0": true, "shop": true, "frontend": true, "db": true}} {
			svc := api.ServiceOf(ls)
			got, ok := serviceIn(ls, want)
			if ok != want[svc] || ok && got != svc {
				t.Errorf("serviceIn(%v, %v) = %q, %v; want %q, %v", ls, want, got, ok, svc, want[svc])
			}
		}
	}
}
