package ui

import "testing"

// TestHeatmapNameChars: hmNameChars is the longest entity name hmNameMax
// holds at hmCharW a character.
func TestHeatmapNameChars(t *testing.T) {
	width, char := hmNameMax, hmCharW
	if want := int(width / char); hmNameChars != want {
		t.Errorf("hmNameChars %d, want %d (hmNameMax / hmCharW)", hmNameChars, want)
	}
}
