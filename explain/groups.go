package explain

import (
	"errors"
	"fmt"
)

func checkShape(w, f int) error {
	if w <= 0 || f <= 0 {
		return fmt.Errorf("explain: window shape %d×%d: both must be positive", w, f)
	}
	return nil
}

// GroupsByMetric returns one group per feature (a metric across all W time
// steps), named by names (len F) or "f<i>" when names is nil.
func GroupsByMetric(w, f int, names []string) ([]Group, error) {
	if err := checkShape(w, f); err != nil {
		return nil, err
	}
	if names != nil && len(names) != f {
		return nil, fmt.Errorf("explain: %d metric names for %d features", len(names), f)
	}
	gs := make([]Group, f)
	for j := 0; j < f; j++ {
		name := fmt.Sprintf("f%d", j)
		if names != nil {
			name = names[j]
		}
		cells := make([]int, w)
		for t := 0; t < w; t++ {
			cells[t] = t*f + j
		}
		gs[j] = Group{Name: name, Kind: KindMetric, Cells: cells}
	}
	return gs, nil
}

// GroupsByEntity returns one group per entity for a window whose features
// belong to several entities: entityOf[j] names the entity of feature j.
// Groups are in order of first appearance and cover all time steps.
func GroupsByEntity(w, f int, entityOf []string) ([]Group, error) {
	if err := checkShape(w, f); err != nil {
		return nil, err
	}
	if len(entityOf) != f {
		return nil, fmt.Errorf("explain: %d entity names for %d features", len(entityOf), f)
	}
	idx := map[string]int{}
	var gs []Group
	for j, e := range entityOf {
		if e == "" {
			return nil, fmt.Errorf("explain: feature %d has no entity", j)
		}
		if _, ok := idx[e]; !ok {
			idx[e] = len(gs)
			gs = append(gs, Group{Name: e, Kind: KindEntity})
		}
	}
	for t := 0; t < w; t++ {
		for j, e := range entityOf {
			g := &gs[idx[e]]
			g.Cells = append(g.Cells, t*f+j)
		}
	}
	return gs, nil
}

// GroupsByTimeSegment splits the W steps into segments contiguous segments
// of (nearly) equal length, each covering all features, named "t[a,b)".
func GroupsByTimeSegment(w, f, segments int) ([]Group, error) {
	if err := checkShape(w, f); err != nil {
		return nil, err
	}
	if segments <= 0 || segments > w {
		return nil, errors.New("explain: segments must be in [1, W]")
	}
	gs := make([]Group, segments)
	for s := 0; s < segments; s++ {
		a, b := s*w/segments, (s+1)*w/segments
		g := Group{Name: fmt.Sprintf("t[%d,%d)", a, b), Kind: KindTime}
		for t := a; t < b; t++ {
			for j := 0; j < f; j++ {
				g.Cells = append(g.Cells, t*f+j)
			}
		}
		gs[s] = g
	}
	return gs, nil
}
