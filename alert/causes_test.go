package alert

import "testing"

// TestFormatCauses: every cause the Explainer gave is listed, a metric
// cause selected by its part of the positive attribution (2.5%) though its
// share of Σ|φ| is under MinCauseShare (1.8%: it read nowhere in
// top_causes while the explanation page and omen_alert_cause_share listed
// it) included; a share that would round to 0 reads "<1%" ("<0.01" for a
// score); dependencies (root-cause scores) are listed apart from the
// attribution shares.
func TestFormatCauses(t *testing.T) {
	tests := []struct {
		name   string
		causes []Cause
		want   string
	}{
		{"shares and scores apart", []Cause{
			{Name: "mem", Kind: "metric", Share: 0.7},
			{Name: "OOMKilled", Kind: "event", Share: 0.29},
			{Name: "db", Kind: "dependency", Entity: "infra/db", Share: 0.41},
		}, "mem 70%, OOMKilled (event) 29%; dependencies by root-cause score: db on infra/db 0.41"},
		{"selected under MinCauseShare of Σ|φ|", []Cause{
			{Name: "mem", Kind: "metric", Share: 0.6876},
			{Name: "cpu", Kind: "metric", Share: 0.0177},
		}, "mem 69%, cpu 2%"},
		{"rounding to 0", []Cause{
			{Name: "cpu", Kind: "metric", Share: 0.004},
			{Name: "cache", Kind: "dependency", Entity: "cache", Share: 0.001},
		}, "cpu <1%; dependencies by root-cause score: cache <0.01"},
		{"dependencies only", []Cause{{Name: "db", Kind: "dependency", Share: 0.5}}, "dependencies by root-cause score: db 0.50"},
	}
	for _, tc := range tests {
		if got := formatCauses(tc.causes); got != tc.want {
			t.Errorf("%s: formatCauses = %q, want %q", tc.name, got, tc.want)
		}
	}
}
