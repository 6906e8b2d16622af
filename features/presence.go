package features

import "slices"

// PresenceMask returns which of the PromQL features (instant[i]: whether
// the i-th is an instant feature, InstantFeatures) make an entity present
// by having a value: the instant ones, or every one when none is
// instant.
func PresenceMask(instant []bool) []bool {
	some := slices.Contains(instant, true)
	mask := make([]bool, len(instant))
	for i, is := range instant {
		mask[i] = is || !some
	}
	return mask
}

// PresenceFeatures returns the names of the features whose value makes
// an entity's vector a row of its window (PresenceMask): a vector with
// none of them is an absent entity's, which the daemon does not score
// and stores only for its failure label. The daemon records them with
// its schema (store.Schema.Presence); training from the store takes them
// as storesource.Source.Presence, so that it sees the windows the daemon
// scores.
func (c Config) PresenceFeatures() []string {
	names := Names(c)
	var out []string
	for i, p := range PresenceMask(c.InstantFeatures()) {
		if p && i < len(names) {
			out = append(out, names[i])
		}
	}
	return out
}
