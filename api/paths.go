package api

import (
	"net/url"
	"strings"
)

// Paths of API resources and UI pages for an entity, prediction or alert
// id; names are escaped as one path segment (PathSegment: "/" becomes
// %2F, a name "." or ".." %2E or %2E%2E).

// PathSegment escapes name as one path segment: url.PathEscape, and the
// names "." and ".." as %2E and %2E%2E, which url.PathEscape leaves as
// they are (a path holding them is cleaned into another path: a cause
// named ".." linked to /api/v1/entities/../dependencies, which the server
// redirects to /api/v1/dependencies).
func PathSegment(name string) string {
	if name == "." || name == ".." {
		return strings.Repeat("%2E", len(name))
	}
	return url.PathEscape(name)
}

// ExplanationPath is the API path of the explanation of an alert or
// prediction.
func ExplanationPath(id string) string { return "/api/v1/explanations/" + PathSegment(id) }

// ExplainPath is the API path that explains an entity now.
func ExplainPath(entity string) string {
	return "/api/v1/entities/" + PathSegment(entity) + "/explain"
}

// DependenciesPath is the API path of an entity's neighbourhood.
func DependenciesPath(entity string) string {
	return "/api/v1/entities/" + PathSegment(entity) + "/dependencies"
}

// EntityUIPath is the UI page of an entity.
func EntityUIPath(entity string) string { return "/ui/entities/" + PathSegment(entity) }

// AlertUIPath is the UI page of an alert (fingerprint) or prediction (id).
func AlertUIPath(id string) string { return "/ui/alerts/" + PathSegment(id) }

// Decorate completes x as the API serves it: the window's timestamps, the
// alert fingerprint (when x was asked for by alert) and links, but for
// the dependencies links, which need to know the dependency graph
// (DecorateWithGraph).
func Decorate(x *Explanation, fingerprint string) { DecorateWithGraph(x, fingerprint, nil) }

// DecorateWithGraph is Decorate with the dependencies links (of x's entity
// and of its entity causes) of the names inGraph reports the dependency
// graph holds, and no others (none when inGraph is nil): the
// neighbourhood of a name the graph does not hold, and of every name
// without a graph, is a 404.
func DecorateWithGraph(x *Explanation, fingerprint string, inGraph func(name string) bool) {
	has := func(name string) bool { return name != "" && inGraph != nil && inGraph(name) }
	if len(x.Window) > 0 && x.Step > 0 {
		n := len(x.Window)
		x.Timestamps = make([]int64, n)
		for i := range x.Timestamps {
			x.Timestamps[i] = x.T - int64(n-1-i)*x.Step
		}
	}
	if fingerprint != "" && fingerprint != x.PredictionID {
		x.AlertFingerprint = fingerprint
	}
	self := x.PredictionID
	if x.AlertFingerprint != "" {
		self = x.AlertFingerprint
	}
	x.Links = &Links{
		Self:    ExplanationPath(self),
		Explain: ExplainPath(x.Entity),
		UI:      AlertUIPath(self),
	}
	if has(x.Entity) {
		x.Links.Dependencies = DependenciesPath(x.Entity)
	}
	for i := range x.Causes.Metrics {
		x.Causes.Metrics[i].Link = EntityUIPath(x.Entity) + "#metric-" + url.PathEscape(x.Causes.Metrics[i].Name)
	}
	for i := range x.Causes.Entities {
		c := &x.Causes.Entities[i]
		c.Links = nil
		e := CauseEntity(*c)
		// A service (WorstEntity set) is a node of the dependency graph:
		// its neighbourhood is the service's, also with no live pod; its
		// explanation and page are its worst pod's.
		deps := e
		if c.WorstEntity != nil {
			deps = c.Entity
		}
		var l Links
		if has(deps) {
			l.Dependencies = DependenciesPath(deps)
		}
		if e != "" {
			l.Explain, l.UI = ExplainPath(e), EntityUIPath(e)
		}
		if l != (Links{}) {
			c.Links = &l
		}
	}
}

// CauseEntity is the entity a root cause's links point to, "" for none:
// its WorstEntity (a service's links go to its pod of the highest
// evidence, as a service has no page or explanation of its own), or, in
// an explanation stored before WorstEntity existed, the cause itself.
func CauseEntity(c EntityCause) string { return linked(c.Entity, c.WorstEntity) }

// NodeEntity is the entity a dependency node links to, "" for none: its
// WorstEntity, or, when the backend did not set it, the node's name.
func NodeEntity(n Node) string { return linked(n.Name, n.WorstEntity) }

func linked(name string, worst *string) string {
	if worst != nil {
		return *worst
	}
	return name
}
