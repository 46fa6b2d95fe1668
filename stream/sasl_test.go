package stream

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
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/driftd/driftd/detector"
)

// selfSigned returns a TLS certificate for localhost/127.0.0.1 and the
// path of its PEM (its own CA).
func selfSigned(t *testing.T) (tls.Certificate, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, _ := x509.MarshalECPrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, certPEM, 0o644)
	return cert, ca
}

// TestServiceSASLTLS runs the pipeline over TLS with SCRAM-SHA-512: on
// the real broker's SASL_SSL listener when DRIFTD_TEST_SASL_BROKERS is set
// (CI), else on an embedded broker with TLS and SASL enabled. A wrong
// password must fail with an authentication error, not hang.
func TestServiceSASLTLS(t *testing.T) {
	var k *testKafka
	user, pass, ca := "driftd", "driftd-secret", ""
	if b := os.Getenv("DRIFTD_TEST_SASL_BROKERS"); b != "" {
		k = newTestKafka(t)
		k.brokers = strings.Split(b, ",")
		user, pass, ca = os.Getenv("DRIFTD_TEST_SASL_USER"), os.Getenv("DRIFTD_TEST_SASL_PASSWORD"), os.Getenv("DRIFTD_TEST_TLS_CA")
	} else {
		cert, caFile := selfSigned(t)
		ca = caFile
		k = newTestKafka(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", user, pass),
			kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
		// kfake listens on 127.0.0.1; the certificate names localhost too.
	}
	cfg := k.config()
	cfg.SASL = SASLConfig{Mechanism: "SCRAM-SHA-512", Username: user, Password: pass}
	cfg.TLS = TLSConfig{Enabled: true, CAFile: ca}
	k.cfgHook = func(c *Config) { c.SASL, c.TLS = cfg.SASL, cfg.TLS }
	k.createInput(1)
	k.ensureTopics(cfg)
	ref := churnReference(t)
	registry := NewRegistry()
	registry.Set(ref)
	cfg.ReferencesEnabled = false
	rng := mrand.New(mrand.NewPCG(4, 4))
	var values [][]byte
	for i := range 4000 {
		values = append(values, churnEvent(rng, i/2000).json(i))
	}
	k.produce(k.client(), values...)
	svc, _, stop := runService(t, cfg, registry, detector.DefaultWindow())
	waitProcessed(t, svc, uint64(len(values)), 60*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(k.readAll(cfg.AlertTopic)); n < 2 {
		t.Fatalf("%d alerts over SASL_SSL, want the skew's", n)
	}

	bad := cfg
	bad.SASL.Password = "wrong"
	badSvc, err := NewService(ServiceOptions{Config: bad, Processor: ProcessorConfig{Window: detector.DefaultWindow()}, Registry: registry, Metrics: NewMetrics(prometheus.NewRegistry(), 0)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = badSvc.Run(ctx, time.Second)
	// Apache Kafka answers SASL_AUTHENTICATION_FAILED; kfake drops the
	// connection. Either way the run must fail promptly, not retry.
	if err == nil || ctx.Err() != nil || (k.real && !strings.Contains(strings.ToUpper(err.Error()), "SASL")) {
		t.Fatalf("wrong password: %v, want an authentication error before the deadline", err)
	}
	t.Logf("wrong password: %v", err)
}
