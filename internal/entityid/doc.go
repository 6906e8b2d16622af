// Package entityid names an entity by the values of its entity labels
// (entity_labels, in their configured order): the ID is the values joined
// by "/", each value with a "%" written "%25" and a "/" written "%2F"
// (upper-case hex, as in a URL), so that distinct value tuples always give
// distinct IDs (namespace "col/x", pod "y" is "col%2Fx/y"; namespace
// "col", pod "x/y" is "col/x%2Fy"), while values holding neither character
// are joined as they are ("payments/api-7f9c-x2k"), as they always were.
//
// Every part of omen that makes an entity ID (the features extractor,
// omen train's Prometheus source, the simulator's scoring) uses Join or
// Append; Split is the inverse, for code that needs the values of an ID
// back (the labels stored with an entity are usually at hand instead).
package entityid
