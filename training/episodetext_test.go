package training

import "testing"

// TestEpisodeText: the threshold method's alert-episode figures name
// their units: failure onsets predicted (recall) and alert groups true
// (precision), with their counts. They read "7 onsets, P 0.50 R 0.14"
// beside the summary's window F1 1.000 (reviewer's finding).
func TestEpisodeText(t *testing.T) {
	for _, tc := range []struct {
		es   EpisodeStats
		want string
	}{
		{EpisodeStats{Episodes: 7, Predicted: 1, Recall: 1.0 / 7, AlertGroups: 3, TruePositives: 1, FalsePositives: 1, Precision: 0.5, LeadMedian: 3},
			"failure onsets: 1 of 7 predicted, R 0.14; alert groups: 1 of 2 true, P 0.50; median lead 3 steps"},
		{EpisodeStats{Episodes: 17, Predicted: 16, Recall: 16.0 / 17, AlertGroups: 16, TruePositives: 16, Precision: 1, LeadMedian: 12.5},
			"failure onsets: 16 of 17 predicted, R 0.94; alert groups: 16 of 16 true, P 1.00; median lead 12 steps"},
	} {
		if got := episodeText(tc.es); got != tc.want {
			t.Errorf("episodeText(%+v) = %q, want %q", tc.es, got, tc.want)
		}
	}
}
