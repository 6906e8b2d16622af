package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// SecuredWeb is a --web.config.file (PrometheusWeb, AlertmanagerWeb)
// that requires TLS with a certificate of a private CA, a client
// certificate that CA issued and basic auth, and the files a client of
// the server needs.
type SecuredWeb struct {
	// CA issued the server's certificate (named serverCN, for
	// 127.0.0.1) and the client certificate; CA.File is its PEM file.
	CA *CA
	// ClientCert and ClientKey are a client certificate the server
	// accepts and its key (PEM files).
	ClientCert, ClientKey string
	// Web is the web configuration, with a client that reaches the
	// server (the CA, the client certificate) and the basic-auth user
	// and password.
	Web Web
}

// NewSecuredWeb writes into dir a CA (dir/<ca>.pem), a server certificate
// named serverCN (server.pem, server-key.pem) and a client certificate
// named clientCN (client.pem, client-key.pem), and returns the web
// configuration that requires them and basic auth of user and password.
func NewSecuredWeb(t testing.TB, dir, ca, serverCN, clientCN, user, password string) *SecuredWeb {
	t.Helper()
	s := &SecuredWeb{CA: NewCA(t, dir, ca)}
	serverCert, serverKey := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	s.CA.Issue(t, serverCert, serverKey, serverCN, true)
	s.ClientCert, s.ClientKey = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	s.CA.Issue(t, s.ClientCert, s.ClientKey, clientCN, false)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(s.ClientCert, s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(s.CA.Cert)
	s.Web = Web{
		Config: fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: %s\nbasic_auth_users:\n  %s: %s\n",
			serverCert, serverKey, s.CA.File, user, hash),
		Client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}}},
		Username: user, Password: password,
	}
	return s
}
