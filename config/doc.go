// Package config loads omen's YAML configuration file.
//
// The file is strict: unknown fields are errors, and every PromQL
// expression is parsed at load time. Errors carry the file position
// (file:line:column) of the offending value, as promtool reports them.
// A missing file is not an error for the daemon: Default gives the shipped
// Kubernetes feature set and the default NATS subjects.
package config
