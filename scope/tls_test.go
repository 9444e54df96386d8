package scope_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/scope"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, all ECDSA P-256, written as PEM files.
type testPKI struct {
	dir                       string
	caFile                    string
	serverCert                tls.Certificate
	clientCertFile, clientKey string
	pool                      *x509.CertPool
}

func newPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	pki := &testPKI{dir: dir, pool: x509.NewCertPool()}
	pki.caFile = write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	pki.pool.AddCert(caCert)
	srvCert, srvKey := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	pki.serverCert, err = tls.X509KeyPair(srvCert, srvKey)
	require.NoError(t, err)
	cliCert, cliKey := leaf(3, "naq-client", x509.ExtKeyUsageClientAuth)
	pki.clientCertFile = write("client.pem", cliCert)
	pki.clientKey = write("client-key.pem", cliKey)
	return pki
}

// serverTLS configures the embedded server for TLS; mutual requires a client
// certificate signed by the CA.
func (p *testPKI) serverTLS(mutual bool) func(*server.Options) {
	return func(o *server.Options) {
		tc := &tls.Config{Certificates: []tls.Certificate{p.serverCert}, MinVersion: tls.VersionTLS12}
		if mutual {
			tc.ClientCAs = p.pool
			tc.ClientAuth = tls.RequireAndVerifyClientCert
			o.TLSVerify = true
		}
		o.TLSConfig = tc
		o.TLSTimeout = 2
	}
}

func TestTLSServerVerifiedWithCAFile(t *testing.T) {
	pki := newPKI(t, "naq")
	srv := startServer(t, pki.serverTLS(false))
	require.Contains(t, srv.URL(), "tls://")
	require.NoError(t, connectWith(t, srv, scope.WithTLS(scope.TLSConfig{Enabled: true, CAFile: pki.caFile})))

	// A CA that did not sign the server certificate is rejected.
	other := newPKI(t, "other")
	err := connectWith(t, srv, scope.WithTLS(scope.TLSConfig{Enabled: true, CAFile: other.caFile}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")
	var ce *scope.ConnectError
	assert.ErrorAs(t, err, &ce)
	var verify *tls.CertificateVerificationError
	assert.ErrorAs(t, err, &verify, "the TLS error passes through")
	assert.True(t, scope.IsPermanent(err), "an untrusted certificate is not retried")

	// Verification off (explicit, test only) connects without the CA.
	require.NoError(t, connectWith(t, srv, scope.WithTLS(scope.TLSConfig{Enabled: true, InsecureSkipVerify: true})))
}

func TestTLSMutualWithClientCertificate(t *testing.T) {
	pki := newPKI(t, "naq")
	srv := startServer(t, pki.serverTLS(true))
	require.NoError(t, connectWith(t, srv, scope.WithTLS(scope.TLSConfig{
		Enabled: true, CAFile: pki.caFile, CertFile: pki.clientCertFile, KeyFile: pki.clientKey})))

	// Without the client certificate the server refuses the connection.
	err := connectWith(t, srv, scope.WithTLS(scope.TLSConfig{Enabled: true, CAFile: pki.caFile}))
	require.Error(t, err)

	// The same setup from NAQ_TLS_* variables.
	p := newPool(t, scope.WithIdleTimeout(0))
	r, err := scope.Health(context.Background(), "", scope.WithPool(p), scope.WithLookupEnv(env(map[string]string{
		"NAQ_NATS_URL":      srv.URL(),
		"NAQ_TLS_ENABLED":   "true",
		"NAQ_TLS_CA_FILE":   pki.caFile,
		"NAQ_TLS_CERT_FILE": pki.clientCertFile,
		"NAQ_TLS_KEY_FILE":  pki.clientKey,
	})))
	require.NoError(t, err)
	assert.True(t, r.JetStream)
	assert.Contains(t, r.ConnectedURL, "127.0.0.1")
}

func TestTLSCertificateKeyMismatchIsAConfigError(t *testing.T) {
	a, b := newPKI(t, "a"), newPKI(t, "b")
	_, err := scope.Load(scope.WithLookupEnv(noEnv), scope.WithTLS(scope.TLSConfig{
		Enabled: true, CertFile: a.clientCertFile, KeyFile: b.clientKey}))
	assert.ErrorIs(t, err, scope.ErrInvalidConfig)
	var ce *scope.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "nats.tls.cert_file", ce.Field)
}
