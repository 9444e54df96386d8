package scope_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/scope"
)

// connectWith dials through a fresh pool with the given explicit options
// and checks a round trip.
func connectWith(t *testing.T, srv *natstest.Server, opts ...scope.Option) error {
	t.Helper()
	p := newPool(t, scope.WithIdleTimeout(0))
	opts = append([]scope.Option{scope.WithPool(p), scope.WithLookupEnv(noEnv), scope.WithConnectionTimeout(2 * time.Second)}, opts...)
	return scope.Run(context.Background(), srv.URL(), func(_ context.Context, nc *instrument.Conn) error {
		return nc.Flush()
	}, opts...)
}

func TestAuthUserPassword(t *testing.T) {
	srv := startServer(t, func(o *server.Options) { o.Username, o.Password = "alice", "s3cret" })
	require.NoError(t, connectWith(t, srv, scope.WithUserPassword("alice", "s3cret")))

	// From the environment too.
	p := newPool(t, scope.WithIdleTimeout(0))
	err := scope.Run(context.Background(), "", func(_ context.Context, nc *instrument.Conn) error { return nc.Flush() },
		scope.WithPool(p), scope.WithLookupEnv(env(map[string]string{
			"NAQ_NATS_URL": srv.URL(), "NAQ_AUTH_USER": "alice", "NAQ_AUTH_PASSWORD": "s3cret"})))
	require.NoError(t, err)

	assert.Error(t, connectWith(t, srv), "no credentials, no connection")
}

func TestAuthWrongPasswordFailsFastWithoutRetryStorm(t *testing.T) {
	srv := startServer(t, func(o *server.Options) { o.Username, o.Password = "alice", "s3cret" })
	var dials dialCounter
	// A generous retry policy: if auth failures were retried this would take
	// 1+2+4+8+16 s and make 6 attempts.
	p := newPool(t, dials.option(), scope.WithRetry(scope.RetryPolicy{
		MaxRetries: 5, InitialDelay: time.Second, BackoffFactor: 2}))
	_, err := scope.Open(context.Background(), srv.URL(), scope.WithPool(p), scope.WithLookupEnv(noEnv),
		scope.WithUserPassword("alice", "wrong-password"))
	require.Error(t, err)
	assert.EqualValues(t, 1, dials.n.Load(), "an authorization failure is never retried")
	assert.ErrorIs(t, err, nats.ErrAuthorization)
	assert.True(t, scope.IsPermanent(err))
	var ce *scope.ConnectError
	require.ErrorAs(t, err, &ce)
	assert.True(t, ce.IsAuth())
	msg := err.Error()
	assert.Contains(t, strings.ToLower(msg), "authorization violation")
	assert.Contains(t, msg, srv.URL())
	assert.NotContains(t, msg, "wrong-password", "the password never appears in errors")
	assert.Equal(t, 0, p.Len())
}

func TestAuthToken(t *testing.T) {
	srv := startServer(t, func(o *server.Options) { o.Authorization = "tok-123" })
	require.NoError(t, connectWith(t, srv, scope.WithToken("tok-123")))
	err := connectWith(t, srv, scope.WithToken("tok-999"))
	assert.ErrorIs(t, err, nats.ErrAuthorization)
	assert.NotContains(t, err.Error(), "tok-999")
}

func TestAuthNKeySeedFile(t *testing.T) {
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, err := kp.PublicKey()
	require.NoError(t, err)
	seed, err := kp.Seed()
	require.NoError(t, err)
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	require.NoError(t, os.WriteFile(seedFile, seed, 0o600))

	srv := startServer(t, func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} })
	require.NoError(t, connectWith(t, srv, scope.WithNKeySeedFile(seedFile)))

	other, err := nkeys.CreateUser()
	require.NoError(t, err)
	otherSeed, err := other.Seed()
	require.NoError(t, err)
	otherFile := filepath.Join(t.TempDir(), "other.nk")
	require.NoError(t, os.WriteFile(otherFile, otherSeed, 0o600))
	assert.ErrorIs(t, connectWith(t, srv, scope.WithNKeySeedFile(otherFile)), nats.ErrAuthorization)

	garbage := filepath.Join(t.TempDir(), "garbage.nk")
	require.NoError(t, os.WriteFile(garbage, []byte("not a seed"), 0o600))
	err = connectWith(t, srv, scope.WithNKeySeedFile(garbage))
	assert.ErrorIs(t, err, scope.ErrInvalidConfig)
}

// operatorSetup is a decentralised-auth (operator mode) setup: an operator,
// one account held by an in-memory resolver, and a user creds file signed
// by the account.
func operatorSetup(t *testing.T) (natstest.Option, string, string) {
	t.Helper()
	okp, err := nkeys.CreateOperator()
	require.NoError(t, err)
	opub, err := okp.PublicKey()
	require.NoError(t, err)
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "naq-test"
	ojwt, err := oc.Encode(okp)
	require.NoError(t, err)
	opClaims, err := jwt.DecodeOperatorClaims(ojwt)
	require.NoError(t, err)

	akp, err := nkeys.CreateAccount()
	require.NoError(t, err)
	apub, err := akp.PublicKey()
	require.NoError(t, err)
	ac := jwt.NewAccountClaims(apub)
	ac.Name = "APP"
	ajwt, err := ac.Encode(okp)
	require.NoError(t, err)

	creds := func(name string, signer nkeys.KeyPair) string {
		ukp, err := nkeys.CreateUser()
		require.NoError(t, err)
		upub, err := ukp.PublicKey()
		require.NoError(t, err)
		uc := jwt.NewUserClaims(upub)
		uc.Name = name
		ujwt, err := uc.Encode(signer)
		require.NoError(t, err)
		useed, err := ukp.Seed()
		require.NoError(t, err)
		b, err := jwt.FormatUserConfig(ujwt, useed)
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), name+".creds")
		require.NoError(t, os.WriteFile(path, b, 0o600))
		return path
	}
	good := creds("app-user", akp)
	// Signed by an account the server does not know: rejected.
	stranger, err := nkeys.CreateAccount()
	require.NoError(t, err)
	bad := creds("stranger", stranger)

	opt := func(o *server.Options) {
		o.JetStream = false // operator-mode JetStream needs account limits; not under test here
		o.TrustedOperators = []*jwt.OperatorClaims{opClaims}
		r := &server.MemAccResolver{}
		require.NoError(t, r.Store(apub, ajwt))
		o.AccountResolver = r
	}
	return opt, good, bad
}

func TestAuthCredsFile(t *testing.T) {
	opt, good, bad := operatorSetup(t)
	srv := startServer(t, opt)
	require.NoError(t, connectWith(t, srv, scope.WithCredsFile(good)))
	err := connectWith(t, srv, scope.WithCredsFile(bad))
	require.Error(t, err)
	assert.ErrorIs(t, err, nats.ErrAuthorization)

	// Health reports JetStream as disabled on this server.
	p := newPool(t)
	r, err := scope.Health(context.Background(), srv.URL(), scope.WithPool(p), scope.WithLookupEnv(noEnv),
		scope.WithCredsFile(good))
	require.NoError(t, err)
	assert.False(t, r.JetStream)
}
