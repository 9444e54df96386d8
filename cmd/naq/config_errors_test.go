package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfigErrorsFromFlags runs the CLI's commands in-process with bad
// connection flags (and a few bad files and variables, to see how the CLI
// names them): each exits 2 with one line on stderr that names the flag,
// file line or variable, the field, the value and a suggestion in CLI
// terms (flags and variables, never a Go API name). `--url=` is an error,
// not the default server.
func TestConfigErrorsFromFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "naq.yaml")
	require.NoError(t, os.WriteFile(file, []byte("nats:\n  client_name: x\nprofiles:\n  prod:\n    client_name: p\n"), 0o600))
	typo := filepath.Join(dir, "typo.yaml")
	require.NoError(t, os.WriteFile(typo, []byte("nats:\n  client_name: x\n  reconect_time_wait: 2\n"), 0o600))
	missing := filepath.Join(dir, "missing.yaml")
	const (
		urlAllowed = "allowed: one or more server URLs, comma-separated, e.g. nats://localhost:4222; leave out --url to use NAQ_NATS_URL, the config file or the default"
		natsKeys   = "servers, client_name, max_reconnect_attempts, reconnect_time_wait, connection_timeout, drain_timeout, flush_timeout, ping_interval, max_outstanding_pings, tls, auth"
	)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		msg  string // the whole of stderr after "naq: "
	}{
		{"config check --url=", []string{"config", "check", "--url="},
			nil, `scope: invalid config: nats.servers="" (flag --url): ` + urlAllowed},
		{"health --url=", []string{"health", "--url="},
			nil, `scope: invalid config: nats.servers="" (flag --url): ` + urlAllowed},
		{"wait --url=", []string{"wait", "--url", ""},
			nil, `scope: invalid config: nats.servers="" (flag --url): ` + urlAllowed},
		{"perf --url=", []string{"perf", "--url="},
			nil, `scope: invalid config: nats.servers="" (flag --url): ` + urlAllowed},
		{"demo --url=", []string{"demo", "--url=", "--metrics-addr", "127.0.0.1:0"},
			nil, `scope: invalid config: nats.servers="" (flag --url): ` + urlAllowed},
		{"--url of commas", []string{"config", "check", "--url", " , "},
			nil, `scope: invalid config: nats.servers=" , " (flag --url): ` + urlAllowed},
		{"--url= beats NAQ_NATS_URL", []string{"config", "check", "--url="},
			map[string]string{"NAQ_NATS_URL": "nats://env:4222"}, `scope: invalid config: nats.servers="" (flag --url): ` + urlAllowed},
		{"--url with an http scheme", []string{"config", "check", "--url", "http://localhost:4222"},
			nil, `scope: invalid config: nats.servers="http://localhost:4222" (flag --url): allowed: scheme nats://, tls://, ws:// or wss://; use nats:// (or tls:// for TLS) instead of http://`},
		{"--url without a scheme", []string{"config", "check", "--url", "nats://a:4222,localhost:4222"},
			nil, `scope: invalid config: nats.servers="localhost:4222" (flag --url): allowed: scheme nats://, tls://, ws:// or wss://; did you mean "nats://localhost:4222"?`},
		{"--url with a bad port", []string{"config", "check", "--url", "nats://a:0"},
			nil, `scope: invalid config: nats.servers="nats://a:0" (flag --url): allowed: a port between 1 and 65535`},
		{"--url password redacted", []string{"config", "check", "--url", "ftp://bob:pw-secret@h:21"},
			nil, `scope: invalid config: nats.servers="ftp://bob:xxxxx@h:21" (flag --url): allowed: scheme nats://, tls://, ws:// or wss://; use nats:// (or tls:// for TLS) instead of ftp://`},
		{"--config=", []string{"config", "check", "--config="},
			map[string]string{"NAQ_CONFIG": file}, `scope: invalid config: config file="" (flag --config): allowed: the path of a YAML config file; leave out --config to use NAQ_CONFIG`},
		{"--config missing", []string{"config", "check", "--config", missing},
			nil, `scope: invalid config: config file="` + missing + `" (flag --config): open ` + missing + `: no such file or directory: allowed: a readable YAML file`},
		{"file argument missing", []string{"config", "check", missing},
			nil, `scope: invalid config: config file="` + missing + `" (argument file): open ` + missing + `: no such file or directory: allowed: a readable YAML file`},
		{"empty file argument", []string{"config", "check", ""},
			nil, `scope: invalid config: config file="" (argument file): allowed: the path of a YAML config file; leave out the argument to use --config or NAQ_CONFIG`},
		{"--profile misspelt", []string{"config", "check", "--profile", "prd", file},
			nil, `scope: invalid config: profile="prd" (flag --profile): allowed: a profile under profiles: in ` + file + `: "prod"; did you mean "prod"?`},
		{"--profile without a file", []string{"config", "check", "--profile", "prod"},
			nil, `scope: invalid config: profile="prod" (flag --profile): no config file is set: allowed: the name of a profile under profiles: in the config file; name the config file with --config or NAQ_CONFIG`},
		{"--profile=", []string{"config", "check", "--profile=", file},
			nil, `scope: invalid config: profile="" (flag --profile): allowed: the name of a profile under profiles: in the config file; leave out --profile to use NAQ_PROFILE`},
		{"NAQ_PROFILE without a file", []string{"config", "check"},
			map[string]string{"NAQ_PROFILE": "prod"}, `scope: invalid config: profile="prod" (env NAQ_PROFILE): no config file is set: allowed: the name of a profile under profiles: in the config file; set NAQ_CONFIG to the config file that defines the profile`},
		{"NAQ_CONFIG missing", []string{"config", "check"},
			map[string]string{"NAQ_CONFIG": missing}, `scope: invalid config: config file="` + missing + `" (env NAQ_CONFIG): open ` + missing + `: no such file or directory: allowed: a readable YAML file`},
		{"file key misspelt", []string{"config", "check", typo},
			nil, `scope: invalid config: nats.reconect_time_wait (` + typo + `:3): unknown key: allowed: ` + natsKeys + `; did you mean "reconnect_time_wait"?`},
		{"env value", []string{"config", "check", "--url", "nats://a:4222"},
			map[string]string{"NAQ_MAX_RECONNECT": "lots"}, `scope: invalid config: nats.max_reconnect_attempts="lots" (env NAQ_MAX_RECONNECT): allowed: an integer >= -1 (-1 = reconnect forever)`},
		{"health --timeout is checked as before", []string{"health", "--url", "nats://a:4222", "--timeout", "0s"},
			nil, `health: --timeout=0s: must be positive`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearConnEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code := run(ctx, tc.args, &out, &errOut)
			assert.Equal(t, exitUsage, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
			assert.Equal(t, "naq: "+tc.msg+"\n", errOut.String())
			assert.NotContains(t, errOut.String(), "pw-secret")
			for _, goName := range []string{"WithConfigFile", "WithProfile", "WithServers", "option ", "scope.Config"} {
				assert.NotContains(t, errOut.String(), goName, "a CLI user sees flags, not Go API names")
			}
		})
	}
}

// clearConnEnv hides the caller's NAQ_*, NATS_URL and OTEL_* variables
// from an in-process run (an empty value counts as unset).
func clearConnEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "NAQ_") || name == "NATS_URL" || strings.HasPrefix(name, "OTEL_") {
			t.Setenv(name, "")
		}
	}
}

// TestUnknownEnvVariables: a NAQ_* variable naq does not read (a typo) is
// a warning on stderr naming the variable it most likely meant, and the
// command carries on; `config check --strict` exits 2 on it instead. The
// value is never shown.
func TestUnknownEnvVariables(t *testing.T) {
	const warning = `naq: warning: NAQ_MAX_RECONECT is not a variable naq reads and is ignored; did you mean "NAQ_MAX_RECONNECT"?` + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("warning", func(t *testing.T) {
		clearConnEnv(t)
		t.Setenv("NAQ_MAX_RECONECT", "-1")
		t.Setenv("NAQ_MAX_RECONNECT", "7")
		var out, errOut bytes.Buffer
		code := run(ctx, []string{"config", "check", "--url", "nats://a:4222"}, &out, &errOut)
		assert.Equal(t, exitOK, code, errOut.String())
		assert.Equal(t, warning, errOut.String())
		assert.Contains(t, out.String(), "max_reconnect_attempts: 7\n", "the typo changes nothing")
	})
	t.Run("strict", func(t *testing.T) {
		clearConnEnv(t)
		t.Setenv("NAQ_MAX_RECONECT", "secret-value")
		var out, errOut bytes.Buffer
		code := run(ctx, []string{"config", "check", "--strict", "--url", "nats://a:4222"}, &out, &errOut)
		assert.Equal(t, exitUsage, code)
		assert.Empty(t, out.String())
		assert.Equal(t, "naq: scope: invalid config: NAQ_MAX_RECONECT (environment): unknown variable: allowed: "+
			"NAQ_CONFIG, NAQ_PROFILE, NAQ_NATS_URL, NAQ_CLIENT_NAME, NAQ_MAX_RECONNECT, NAQ_RECONNECT_TIME_WAIT, "+
			"NAQ_CONNECTION_TIMEOUT, NAQ_DRAIN_TIMEOUT, NAQ_FLUSH_TIMEOUT, NAQ_PING_INTERVAL, NAQ_MAX_OUTSTANDING_PINGS, "+
			"NAQ_TLS_ENABLED, NAQ_TLS_CERT_FILE, NAQ_TLS_KEY_FILE, NAQ_TLS_CA_FILE, NAQ_TLS_INSECURE_SKIP_VERIFY, "+
			"NAQ_AUTH_USER, NAQ_AUTH_PASSWORD, NAQ_AUTH_TOKEN, NAQ_AUTH_NKEY_SEED_FILE, NAQ_AUTH_CREDS_FILE; "+
			`did you mean "NAQ_MAX_RECONNECT"?`+"\n", errOut.String())
		assert.NotContains(t, errOut.String(), "secret-value")
	})
	t.Run("strict, all known", func(t *testing.T) {
		clearConnEnv(t)
		t.Setenv("NAQ_MAX_RECONNECT", "3")
		var out, errOut bytes.Buffer
		code := run(ctx, []string{"config", "check", "--strict", "--url", "nats://a:4222"}, &out, &errOut)
		assert.Equal(t, exitOK, code, errOut.String())
		assert.Empty(t, errOut.String())
	})
}
