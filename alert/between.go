package alert

import "github.com/omen-sre/omen/model"

// Between is the shortest decimal (3 significant digits or more) of the
// midpoint of lo and hi that lies strictly between them: a critical
// probability to suggest, or set, for a model whose failure threshold lo
// is at or above the one in force (hi 1), so that severity separates its
// alerts (model.Between).
func Between(lo, hi float64) string { return model.Between(lo, hi) }
