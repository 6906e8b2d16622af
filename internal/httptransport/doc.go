// Package httptransport holds the HTTP transports omen's clients share:
// the default transport of a Prometheus server without client settings
// (Prometheus) and Explain, which words a transport's errors so that a
// server certificate that does not verify names the certificate, its
// issuer and, for an unknown authority, what it was checked against (for
// an expired one, when it expired), and a failure to read omen's
// own client settings says so (clientsettings.Error). The pollers
// (stream), the alert pipeline (alert) and the client settings (config)
// use them: one place for the wording the README documents.
package httptransport
