package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// WriteCert writes a self-signed certificate for 127.0.0.1 with the given
// common name and returns it.
func WriteCert(t testing.TB, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	c, _ := writeCert(t, certFile, keyFile, tmpl, nil, nil)
	return c
}

// CA is a private certificate authority that issues certificates for
// tests (TLS servers for 127.0.0.1, clients).
type CA struct {
	// File is the CA certificate's PEM file (a tls_config.ca_file, a
	// client_ca_file).
	File string
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA writes a new CA's certificate, named cn, to dir/<cn>.pem.
func NewCA(t testing.TB, dir, cn string) *CA {
	t.Helper()
	file := filepath.Join(dir, cn+".pem")
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		IsCA: true, BasicConstraintsValid: true,
	}
	c, key := writeCert(t, file, "", tmpl, nil, nil)
	return &CA{File: file, Cert: c, key: key}
}

// Issue writes a certificate named cn signed by the CA, and its key: a
// server certificate for 127.0.0.1 when server, else a client
// certificate.
func (ca *CA) Issue(t testing.TB, certFile, keyFile, cn string, server bool) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	c, _ := writeCert(t, certFile, keyFile, tmpl, ca.Cert, ca.key)
	return c
}

// IssueExpired is Issue of a server certificate for 127.0.0.1 that
// expired an hour ago.
func (ca *CA) IssueExpired(t testing.TB, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: cn}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour),
	}
	c, _ := writeCert(t, certFile, keyFile, tmpl, ca.Cert, ca.key)
	return c
}

// writeCert writes tmpl as a certificate with a new key, signed by
// parent's key pkey (self-signed when parent is nil), to certFile, and
// the key to keyFile (not written when empty). Without a NotAfter, tmpl
// is valid from an hour ago to an hour from now.
func writeCert(t testing.TB, certFile, keyFile string, tmpl, parent *x509.Certificate, pkey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	if tmpl.NotAfter.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	if parent == nil {
		parent, pkey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, pkey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if keyFile != "" {
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}
