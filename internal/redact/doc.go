// Package redact hides credentials in URLs before they reach logs, metric
// labels and error messages.
package redact
