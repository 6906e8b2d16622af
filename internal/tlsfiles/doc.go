// Package tlsfiles checks the PEM files a TLS client is given before it
// connects: a CA file that holds a certificate, a client certificate and
// key file that are a pair. The daemon's HTTP clients (config's
// tls_config) and its NATS client (--nats.tls-* flags) check theirs with
// it, each naming its own key or flag; the errors never hold a file's
// content.
package tlsfiles
