package scope_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/naq-io/naq/scope"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := scope.Load(scope.WithLookupEnv(noEnv))
	require.NoError(t, err)
	assert.Equal(t, scope.DefaultConfig(), cfg)
	assert.Equal(t, []string{"nats://localhost:4222"}, cfg.Servers)
	assert.Equal(t, "naq-client", cfg.ClientName)
	assert.Equal(t, 5, cfg.MaxReconnectAttempts)
	assert.Equal(t, 2*time.Second, cfg.ReconnectTimeWait)
	assert.Equal(t, 10*time.Second, cfg.ConnectionTimeout)
	assert.Equal(t, 30*time.Second, cfg.DrainTimeout)
	assert.Equal(t, 5*time.Second, cfg.FlushTimeout)
	assert.Equal(t, 120*time.Second, cfg.PingInterval)
	assert.Equal(t, 2, cfg.MaxOutstandingPings)
	assert.False(t, cfg.TLS.Enabled)
	assert.Equal(t, scope.AuthConfig{}, cfg.Auth)
}

const seedYAML = `
nats:
  servers:
    - "nats://a:4222"
    - "nats://b:4222"
  client_name: from-file
  max_reconnect_attempts: 7
  reconnect_time_wait: 2.5
  connection_timeout: "1m30s"
  drain_timeout: 3
  flush_timeout: 500ms
  ping_interval: 60
  max_outstanding_pings: 4
  tls: {enabled: false, cert_file: "", key_file: "", ca_file: ""}
  auth: {user: "", password: "", token: "", nkey_seed_file: "", creds_file: ""}
profiles:
  prod:
    servers: ["tls://prod:4222"]
    client_name: prod-client
    tls: {enabled: true, insecure_skip_verify: true}
  empty:
`

func TestLoadFileNumbersAndDurationStrings(t *testing.T) {
	path := writeFile(t, "naq.yaml", seedYAML)
	cfg, err := scope.Load(scope.WithLookupEnv(noEnv), scope.WithConfigFile(path))
	require.NoError(t, err)
	assert.Equal(t, []string{"nats://a:4222", "nats://b:4222"}, cfg.Servers)
	assert.Equal(t, "from-file", cfg.ClientName)
	assert.Equal(t, 7, cfg.MaxReconnectAttempts)
	assert.Equal(t, 2500*time.Millisecond, cfg.ReconnectTimeWait)
	assert.Equal(t, 90*time.Second, cfg.ConnectionTimeout)
	assert.Equal(t, 3*time.Second, cfg.DrainTimeout)
	assert.Equal(t, 500*time.Millisecond, cfg.FlushTimeout)
	assert.Equal(t, time.Minute, cfg.PingInterval)
	assert.Equal(t, 4, cfg.MaxOutstandingPings)
}

func TestLoadProfileOverlaysBase(t *testing.T) {
	path := writeFile(t, "naq.yaml", seedYAML)
	cfg, err := scope.Load(scope.WithLookupEnv(noEnv), scope.WithConfigFile(path), scope.WithProfile("prod"))
	require.NoError(t, err)
	assert.Equal(t, []string{"tls://prod:4222"}, cfg.Servers)
	assert.Equal(t, "prod-client", cfg.ClientName)
	assert.True(t, cfg.TLS.Enabled)
	assert.True(t, cfg.TLS.InsecureSkipVerify)
	assert.Equal(t, 7, cfg.MaxReconnectAttempts, "fields the profile leaves out come from the base")

	// An empty profile changes nothing; NAQ_CONFIG/NAQ_PROFILE select file and profile.
	cfg, err = scope.Load(scope.WithLookupEnv(env(map[string]string{"NAQ_CONFIG": path, "NAQ_PROFILE": "empty"})))
	require.NoError(t, err)
	assert.Equal(t, "from-file", cfg.ClientName)
	cfg, err = scope.Load(scope.WithLookupEnv(env(map[string]string{"NAQ_CONFIG": path, "NAQ_PROFILE": "prod"})))
	require.NoError(t, err)
	assert.Equal(t, "prod-client", cfg.ClientName)
}

func TestLoadPrecedence(t *testing.T) {
	path := writeFile(t, "naq.yaml", seedYAML)
	e := map[string]string{"NAQ_CLIENT_NAME": "from-env", "NAQ_DRAIN_TIMEOUT": "9"}
	opts := []scope.LoadOption{scope.WithLookupEnv(env(e)), scope.WithConfigFile(path), scope.WithProfile("prod")}

	cfg, err := scope.Load(opts...)
	require.NoError(t, err)
	assert.Equal(t, "from-env", cfg.ClientName, "env beats profile")
	assert.Equal(t, 9*time.Second, cfg.DrainTimeout, "env beats file")
	assert.Equal(t, []string{"tls://prod:4222"}, cfg.Servers, "profile beats file")
	assert.Equal(t, 4, cfg.MaxOutstandingPings, "file beats defaults")

	cfg, err = scope.Load(append(opts, scope.WithClientName("explicit"), scope.WithDrainTimeout(time.Second))...)
	require.NoError(t, err)
	assert.Equal(t, "explicit", cfg.ClientName, "explicit options beat env")
	assert.Equal(t, time.Second, cfg.DrainTimeout)
}

func TestLoadEnvEveryField(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "user.nk")
	require.NoError(t, os.WriteFile(seed, []byte("SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4"), 0o600))
	e := map[string]string{
		"NAQ_NATS_URL":                 " nats://x:1 , nats://y:2 ,",
		"NATS_URL":                     "nats://ignored:4222",
		"NAQ_CLIENT_NAME":              "svc",
		"NAQ_MAX_RECONNECT":            "-1",
		"NAQ_RECONNECT_TIME_WAIT":      "250ms",
		"NAQ_CONNECTION_TIMEOUT":       "1.5",
		"NAQ_DRAIN_TIMEOUT":            "4s",
		"NAQ_FLUSH_TIMEOUT":            "2",
		"NAQ_PING_INTERVAL":            "30s",
		"NAQ_MAX_OUTSTANDING_PINGS":    "3",
		"NAQ_TLS_ENABLED":              "true",
		"NAQ_TLS_INSECURE_SKIP_VERIFY": "1",
		"NAQ_AUTH_NKEY_SEED_FILE":      seed,
	}
	cfg, err := scope.Load(scope.WithLookupEnv(env(e)))
	require.NoError(t, err)
	want := scope.Config{
		Servers:              []string{"nats://x:1", "nats://y:2"},
		ClientName:           "svc",
		MaxReconnectAttempts: -1,
		ReconnectTimeWait:    250 * time.Millisecond,
		ConnectionTimeout:    1500 * time.Millisecond,
		DrainTimeout:         4 * time.Second,
		FlushTimeout:         2 * time.Second,
		PingInterval:         30 * time.Second,
		MaxOutstandingPings:  3,
		TLS:                  scope.TLSConfig{Enabled: true, InsecureSkipVerify: true},
		Auth:                 scope.AuthConfig{NKeySeedFile: seed},
	}
	assert.Equal(t, want, cfg)

	// The remaining string fields (checked before file validation would run).
	e2 := map[string]string{
		"NAQ_AUTH_USER": "u", "NAQ_AUTH_PASSWORD": "p",
		"NAQ_TLS_ENABLED": "true", "NAQ_TLS_CA_FILE": "/nonexistent/ca.pem",
	}
	_, err = scope.Load(scope.WithLookupEnv(env(e2)))
	var ce *scope.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "nats.tls.ca_file", ce.Field, "NAQ_TLS_CA_FILE reached the config")
	e3 := map[string]string{"NAQ_AUTH_TOKEN": "t", "NAQ_AUTH_CREDS_FILE": "/x.creds"}
	_, err = scope.Load(scope.WithLookupEnv(env(e3)))
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "nats.auth", ce.Field)
	assert.Contains(t, ce.Value, "token + creds_file")
	e4 := map[string]string{"NAQ_TLS_ENABLED": "true", "NAQ_TLS_CERT_FILE": "/c.pem", "NAQ_TLS_KEY_FILE": "/k.pem"}
	_, err = scope.Load(scope.WithLookupEnv(env(e4)))
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "nats.tls.cert_file", ce.Field)
	assert.Contains(t, ce.Value, "/c.pem")
}

func TestLoadNATSURLFallback(t *testing.T) {
	cfg, err := scope.Load(scope.WithLookupEnv(env(map[string]string{"NATS_URL": "nats://fallback:4222"})))
	require.NoError(t, err)
	assert.Equal(t, []string{"nats://fallback:4222"}, cfg.Servers, "NATS_URL replaces the default")

	path := writeFile(t, "naq.yaml", seedYAML)
	cfg, err = scope.Load(scope.WithLookupEnv(env(map[string]string{"NATS_URL": "nats://fallback:4222"})),
		scope.WithConfigFile(path))
	require.NoError(t, err)
	assert.Equal(t, []string{"nats://a:4222", "nats://b:4222"}, cfg.Servers, "the file beats the fallback")

	cfg, err = scope.Load(scope.WithLookupEnv(env(map[string]string{
		"NATS_URL": "nats://fallback:4222", "NAQ_NATS_URL": "nats://naq:4222"})))
	require.NoError(t, err)
	assert.Equal(t, []string{"nats://naq:4222"}, cfg.Servers, "NAQ_NATS_URL beats NATS_URL")
}

func TestLoadWithConfigSkipsEnvAndFile(t *testing.T) {
	base := scope.DefaultConfig()
	base.ClientName = "given"
	cfg, err := scope.Load(scope.WithConfig(base),
		scope.WithLookupEnv(env(map[string]string{"NAQ_CLIENT_NAME": "env", "NAQ_CONFIG": "/nonexistent"})),
		scope.WithMaxReconnectAttempts(0))
	require.NoError(t, err)
	assert.Equal(t, "given", cfg.ClientName)
	assert.Equal(t, 0, cfg.MaxReconnectAttempts, "explicit options still apply")
}

func TestLoadBadInput(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	good := writeFile(t, "good.yaml", seedYAML)
	file := func(content string) scope.LoadOption { return scope.WithConfigFile(writeFile(t, "c.yaml", content)) }

	tests := []struct {
		name   string
		opts   []scope.LoadOption
		field  string
		inMsg  []string // substrings of the message: value, allowed, line, ...
		source string
	}{
		{"empty servers", []scope.LoadOption{scope.WithLookupEnv(env(map[string]string{"NAQ_NATS_URL": " , "}))},
			"nats.servers", []string{"[]", "at least one server URL"}, ""},
		{"bad URL scheme", []scope.LoadOption{scope.WithServers("http://localhost:4222")},
			"nats.servers", []string{`"http://localhost:4222"`, "nats://, tls://, ws:// or wss://"}, ""},
		{"bad port", []scope.LoadOption{scope.WithServers("nats://localhost:99999")},
			"nats.servers", []string{"99999", "port between 1 and 65535"}, ""},
		{"negative drain timeout in YAML", []scope.LoadOption{file("nats:\n  drain_timeout: -1\n")},
			"nats.drain_timeout", []string{"-1s", "a duration > 0"}, ""},
		{"zero connection timeout", []scope.LoadOption{scope.WithConnectionTimeout(0)},
			"nats.connection_timeout", []string{"0s", "a duration > 0"}, ""},
		{"negative reconnect wait", []scope.LoadOption{scope.WithReconnectTimeWait(-time.Second)},
			"nats.reconnect_time_wait", []string{"-1s", ">= 0"}, ""},
		{"max reconnect below -1", []scope.LoadOption{scope.WithMaxReconnectAttempts(-2)},
			"nats.max_reconnect_attempts", []string{"-2", ">= -1"}, ""},
		{"zero outstanding pings", []scope.LoadOption{scope.WithMaxOutstandingPings(0)},
			"nats.max_outstanding_pings", []string{"=0", ">= 1"}, ""},
		{"cert without key", []scope.LoadOption{scope.WithTLS(scope.TLSConfig{Enabled: true, CertFile: "/c.pem"})},
			"nats.tls.key_file", []string{"whenever tls.cert_file is set"}, ""},
		{"unreadable CA file", []scope.LoadOption{scope.WithTLS(scope.TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "missing.pem")})},
			"nats.tls.ca_file", []string{"missing.pem", "readable PEM", "no such file"}, ""},
		{"CA file without certificates", []scope.LoadOption{scope.WithTLS(scope.TLSConfig{Enabled: true, CAFile: notPEM})},
			"nats.tls.ca_file", []string{"at least one CA certificate"}, ""},
		{"tls files while TLS is off", []scope.LoadOption{scope.WithTLS(scope.TLSConfig{CAFile: notPEM})},
			"nats.tls.enabled", []string{"false", "true (or tls:// servers)"}, ""},
		{"unknown profile", []scope.LoadOption{scope.WithConfigFile(good), scope.WithProfile("staging")},
			"profile", []string{`"staging"`, `"empty", "prod"`}, "option scope.WithProfile"},
		{"profile without file", []scope.LoadOption{scope.WithProfile("prod")},
			"profile", []string{`"prod"`, "NAQ_CONFIG"}, ""},
		{"malformed YAML", []scope.LoadOption{file("nats:\n  client_name: x\n  servers: nats://a: 4222\n")},
			"nats.servers", []string{"c.yaml:3", "YAML syntax"}, ""},
		{"unknown YAML key", []scope.LoadOption{file("nats:\n  client_name: x\n  max_reconects: 3\n")},
			"nats.max_reconects", []string{"c.yaml:3", "unknown key"}, ""},
		{"duplicate YAML key", []scope.LoadOption{file("nats:\n  client_name: x\n  client_name: y\n")},
			"nats.client_name", []string{"c.yaml:3", "already set on line 2"}, ""},
		{"unknown top-level key", []scope.LoadOption{file("natz:\n  client_name: x\n")},
			"natz", []string{"c.yaml:1", `did you mean "nats"?`}, ""},
		{"bad duration string", []scope.LoadOption{file("nats:\n\n  ping_interval: 2 parsecs\n")},
			"nats.ping_interval", []string{"c.yaml:3", `"2 parsecs"`, "Go duration"}, ""},
		{"non-numeric NAQ_MAX_RECONNECT", []scope.LoadOption{scope.WithLookupEnv(env(map[string]string{"NAQ_MAX_RECONNECT": "five"}))},
			"nats.max_reconnect_attempts", []string{`"five"`, "an integer"}, "env NAQ_MAX_RECONNECT"},
		{"bad NAQ_FLUSH_TIMEOUT", []scope.LoadOption{scope.WithLookupEnv(env(map[string]string{"NAQ_FLUSH_TIMEOUT": "soon"}))},
			"nats.flush_timeout", []string{`"soon"`, "Go duration"}, "env NAQ_FLUSH_TIMEOUT"},
		{"bad NAQ_TLS_ENABLED", []scope.LoadOption{scope.WithLookupEnv(env(map[string]string{"NAQ_TLS_ENABLED": "maybe"}))},
			"nats.tls.enabled", []string{`"maybe"`, "true or false"}, "env NAQ_TLS_ENABLED"},
		{"token and user/password", []scope.LoadOption{scope.WithLookupEnv(env(map[string]string{
			"NAQ_AUTH_USER": "u", "NAQ_AUTH_PASSWORD": "pw-secret", "NAQ_AUTH_TOKEN": "tok-secret"}))},
			"nats.auth", []string{"user/password + token", "at most one"}, ""},
		{"user without password", []scope.LoadOption{scope.WithLookupEnv(env(map[string]string{"NAQ_AUTH_USER": "u"}))},
			"nats.auth.password", []string{"whenever auth.user is set"}, ""},
		{"missing creds file", []scope.LoadOption{scope.WithCredsFile(filepath.Join(dir, "user.creds"))},
			"nats.auth.creds_file", []string{"user.creds", "a readable file"}, ""},
		{"missing config file", []scope.LoadOption{scope.WithConfigFile(filepath.Join(dir, "nope.yaml"))},
			"config file", []string{"nope.yaml", "readable YAML"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]scope.LoadOption{scope.WithLookupEnv(noEnv)}, tc.opts...)
			_, err := scope.Load(opts...)
			require.Error(t, err)
			assert.ErrorIs(t, err, scope.ErrInvalidConfig)
			var ce *scope.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, "scope: invalid config: "+tc.field), msg)
			for _, s := range tc.inMsg {
				assert.Contains(t, msg, s)
			}
			if tc.source != "" {
				assert.Equal(t, tc.source, ce.Source)
			}
			assert.NotContains(t, msg, "secret", "no secret in the error")
		})
	}
}

func TestConfigErrorRedactsURLPassword(t *testing.T) {
	_, err := scope.Load(scope.WithLookupEnv(noEnv), scope.WithServers("http://bob:hunter2@host:4222"))
	require.ErrorIs(t, err, scope.ErrInvalidConfig)
	assert.NotContains(t, err.Error(), "hunter2")
	assert.Contains(t, err.Error(), "bob")
}

func secretConfig() scope.Config {
	c := scope.DefaultConfig()
	c.Servers = []string{"nats://alice:url-pass@h1:4222", "nats://url-token@h2:4222", "nats://h3:4222"}
	c.Auth = scope.AuthConfig{User: "alice", Password: "the-password", Token: "the-token"}
	return c
}

func TestSecretsRedactedWhenPrinted(t *testing.T) {
	c := secretConfig()
	secrets := []string{"the-password", "the-token", "url-pass", "url-token"}
	yml, err := c.YAML()
	require.NoError(t, err)
	js, err := json.Marshal(c)
	require.NoError(t, err)
	ymarshal, err := yaml.Marshal(c)
	require.NoError(t, err)
	printed := map[string]string{
		"String":        c.String(),
		"%v":            fmt.Sprintf("%v", c),
		"%+v":           fmt.Sprintf("%+v", c),
		"%#v":           fmt.Sprintf("%#v", c),
		"%s":            fmt.Sprintf("%s", c),
		"pointer %+v":   fmt.Sprintf("%+v", &c),
		"auth %+v":      fmt.Sprintf("%+v", c.Auth),
		"auth %#v":      fmt.Sprintf("%#v", c.Auth),
		"password %v":   fmt.Sprintf("%v", c.Auth.Password),
		"password %#v":  fmt.Sprintf("%#v", c.Auth.Password),
		"password %q":   fmt.Sprintf("%q", c.Auth.Password),
		"YAML":          string(yml),
		"JSON":          string(js),
		"yaml.Marshal":  string(ymarshal),
		"Redacted %+v":  fmt.Sprintf("%+v", c.Redacted().Auth.Password.Value()),
		"Redacted URLs": strings.Join(c.Redacted().Servers, ","),
	}
	for name, out := range printed {
		for _, s := range secrets {
			assert.NotContains(t, out, s, "%s leaks %q: %s", name, s, out)
		}
	}
	assert.Contains(t, c.String(), "REDACTED")
	assert.Contains(t, c.String(), "alice", "non-secret fields still print")
	assert.Contains(t, c.String(), "h3:4222")
	assert.Equal(t, "the-password", c.Auth.Password.Value(), "the value itself is intact")
	assert.Equal(t, "", scope.Secret("").String(), "an unset secret prints empty")
}

func TestYAMLRoundTrip(t *testing.T) {
	c := scope.DefaultConfig()
	c.Servers = []string{"nats://a:1", "nats://b:2"}
	c.ReconnectTimeWait = 1500 * time.Millisecond
	c.Auth.User, c.Auth.Password = "u", "p"
	out, err := c.YAML()
	require.NoError(t, err)
	back, err := scope.Load(scope.WithLookupEnv(noEnv), scope.WithConfigFile(writeFile(t, "dump.yaml", string(out))))
	require.NoError(t, err)
	want := c
	want.Auth.Password = scope.Redacted
	assert.Equal(t, want, back, "the dump is a loadable config file (secrets replaced)")
}

func TestNATSOptionsValidates(t *testing.T) {
	c := scope.DefaultConfig()
	opts, err := c.NATSOptions()
	require.NoError(t, err)
	assert.NotEmpty(t, opts)
	c.Servers = nil
	_, err = c.NATSOptions()
	assert.True(t, errors.Is(err, scope.ErrInvalidConfig))
}
