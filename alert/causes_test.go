package alert

import "testing"

// TestFormatCauses: causes under MinCauseShare are left out, and
// dependencies (root-cause scores) are listed apart from the attribution
// shares.
func TestFormatCauses(t *testing.T) {
	got := formatCauses([]Cause{
		{Name: "mem", Kind: "metric", Share: 0.7},
		{Name: "OOMKilled", Kind: "event", Share: 0.29},
		{Name: "cpu", Kind: "metric", Share: 0.004},
		{Name: "db", Kind: "dependency", Entity: "infra/db", Share: 0.41},
		{Name: "cache", Kind: "dependency", Entity: "cache", Share: 0.001},
	})
	want := "mem 70%, OOMKilled (event) 29%; dependencies by root-cause score: db on infra/db 0.41"
	if got != want {
		t.Errorf("formatCauses = %q, want %q", got, want)
	}
	if got := formatCauses([]Cause{{Name: "db", Kind: "dependency", Share: 0.5}}); got != "dependencies by root-cause score: db 0.50" {
		t.Errorf("dependencies only: %q", got)
	}
}
