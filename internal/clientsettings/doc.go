// Package clientsettings marks a request's failure to read or use omen's
// own HTTP client settings (a password, credentials, CA, certificate or
// key file of tls_config, basic_auth or authorization) apart from the
// server's failures: the transport of config.HTTPClientConfig wraps them
// in Error, and the Prometheus poller neither retries them nor says the
// server is failing.
package clientsettings
