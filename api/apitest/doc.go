// Package apitest builds a deterministic in-memory api.Backend (a small
// fleet with predictions, alerts, explanations, a model and a call graph)
// for tests of the API, the UI and the explain client.
package apitest
