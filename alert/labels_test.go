package alert

import "testing"

// TestLabelCollisionDeterministic: labels that are made valid to the same
// name give one label set (the already-valid name wins), whatever the map
// order.
func TestLabelCollisionDeterministic(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		p := Prediction{Entity: "e", Labels: map[string]string{
			"app.kubernetes.io/name": "a", "app_kubernetes_io_name": "b",
			"x-y": "1", "x.y": "2", "pod": "p",
		}}
		ls := baseLabels(&p)
		if ls["app_kubernetes_io_name"] != "b" || ls["x_y"] != "1" {
			t.Fatalf("labels %v, want app_kubernetes_io_name=b (valid name wins) and x_y=1 (sorts first)", ls)
		}
		seen[fingerprint(ls)] = true
	}
	if len(seen) != 1 {
		t.Fatalf("%d fingerprints for one entity, want 1", len(seen))
	}
}
