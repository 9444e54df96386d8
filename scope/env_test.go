package scope_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/scope"
)

// TestCheckEnvSuggests: every NAQ_* variable Load does not read is
// reported with the variable it most likely meant: a typo, the right name
// in the wrong case, the YAML field's name, the field's last word.
func TestCheckEnvSuggests(t *testing.T) {
	tests := []struct{ name, suggestion string }{
		{"NAQ_MAX_RECONECT", "NAQ_MAX_RECONNECT"},
		{"NAQ_MAX_RECONNECTS", "NAQ_MAX_RECONNECT"},
		{"NAQ_MAX_RECONNECT_ATTEMPTS", "NAQ_MAX_RECONNECT"},
		{"NAQ_NATS_ULR", "NAQ_NATS_URL"},
		{"NAQ_URL", "NAQ_NATS_URL"},
		{"NAQ_SERVERS", "NAQ_NATS_URL"},
		{"naq_client_name", "NAQ_CLIENT_NAME"},
		{"NAQ_CLIENTNAME", "NAQ_CLIENT_NAME"},
		{"NAQ_DRAIN_TIMOUT", "NAQ_DRAIN_TIMEOUT"},
		{"NAQ_TOKEN", "NAQ_AUTH_TOKEN"},
		{"NAQ_CREDS_FILE", "NAQ_AUTH_CREDS_FILE"},
		{"NAQ_CA_FILE", "NAQ_TLS_CA_FILE"},
		{"NAQ_TLS_ENABLE", "NAQ_TLS_ENABLED"},
		{"NAQ_PROFIL", "NAQ_PROFILE"},
		{"NAQ_CONFIG_FILE", "NAQ_CONFIG"},
		{"NAQ_FEATURE_FLAGS", ""}, // an app's own variable: nothing near
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := scope.CheckEnv([]string{tc.name + "=value-never-shown"})
			require.Error(t, err)
			assert.ErrorIs(t, err, scope.ErrInvalidConfig)
			var ce *scope.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.name, ce.Field)
			assert.Equal(t, "environment", ce.Source)
			assert.Empty(t, ce.Value, "values are never shown")
			want := ""
			if tc.suggestion != "" {
				want = `did you mean "` + tc.suggestion + `"?`
			}
			assert.Equal(t, want, ce.Suggestion)
			assert.NotContains(t, err.Error(), "value-never-shown")
		})
	}
}

// TestCheckEnvReportsOnlyUnknown: the variables Load reads, NATS_URL,
// other prefixes and empty values are not reported; several unknown ones
// come back sorted, one error each, the whole message exact.
func TestCheckEnvReportsOnlyUnknown(t *testing.T) {
	known := []string{
		"NAQ_CONFIG=naq.yaml", "NAQ_PROFILE=prod", "NAQ_NATS_URL=nats://a:4222", "NATS_URL=nats://b:4222",
		"NAQ_CLIENT_NAME=x", "NAQ_MAX_RECONNECT=3", "NAQ_RECONNECT_TIME_WAIT=2s", "NAQ_CONNECTION_TIMEOUT=1",
		"NAQ_DRAIN_TIMEOUT=1", "NAQ_FLUSH_TIMEOUT=1", "NAQ_PING_INTERVAL=1", "NAQ_MAX_OUTSTANDING_PINGS=2",
		"NAQ_TLS_ENABLED=true", "NAQ_TLS_CERT_FILE=c", "NAQ_TLS_KEY_FILE=k", "NAQ_TLS_CA_FILE=ca",
		"NAQ_TLS_INSECURE_SKIP_VERIFY=false", "NAQ_AUTH_USER=u", "NAQ_AUTH_PASSWORD=p", "NAQ_AUTH_TOKEN=t",
		"NAQ_AUTH_NKEY_SEED_FILE=n", "NAQ_AUTH_CREDS_FILE=c",
		"HOME=/root", "NAQUA=1", "OTEL_SERVICE_NAME=svc", "NAQ_EMPTY=", "NAQ_BLANK=  ",
	}
	require.NoError(t, scope.CheckEnv(known))
	require.NoError(t, scope.CheckEnv(nil))

	err := scope.CheckEnv(append(known, "NAQ_PING_INTERVALL=5", "NAQ_AUTH_PASWORD=hunter2", "NAQ_PING_INTERVALL=6"))
	require.Error(t, err)
	var joined interface{ Unwrap() []error }
	require.True(t, errors.As(err, &joined))
	errs := joined.Unwrap()
	require.Len(t, errs, 2, "one error per variable, even when it is set twice")
	allowed := "NAQ_CONFIG, NAQ_PROFILE, NAQ_NATS_URL, NAQ_CLIENT_NAME, NAQ_MAX_RECONNECT, NAQ_RECONNECT_TIME_WAIT, " +
		"NAQ_CONNECTION_TIMEOUT, NAQ_DRAIN_TIMEOUT, NAQ_FLUSH_TIMEOUT, NAQ_PING_INTERVAL, NAQ_MAX_OUTSTANDING_PINGS, " +
		"NAQ_TLS_ENABLED, NAQ_TLS_CERT_FILE, NAQ_TLS_KEY_FILE, NAQ_TLS_CA_FILE, NAQ_TLS_INSECURE_SKIP_VERIFY, " +
		"NAQ_AUTH_USER, NAQ_AUTH_PASSWORD, NAQ_AUTH_TOKEN, NAQ_AUTH_NKEY_SEED_FILE, NAQ_AUTH_CREDS_FILE"
	assert.EqualError(t, errs[0], `scope: invalid config: NAQ_AUTH_PASWORD (environment): unknown variable: allowed: `+
		allowed+`; did you mean "NAQ_AUTH_PASSWORD"?`)
	assert.EqualError(t, errs[1], `scope: invalid config: NAQ_PING_INTERVALL (environment): unknown variable: allowed: `+
		allowed+`; did you mean "NAQ_PING_INTERVAL"?`)
	assert.NotContains(t, err.Error(), "hunter2")
	assert.Equal(t, 2, strings.Count(err.Error(), "\n")+1, "one line per variable")
}

// TestLoadIgnoresUnknownEnv: Load itself never fails on a variable it
// does not read (a program may use NAQ_ names of its own).
func TestLoadIgnoresUnknownEnv(t *testing.T) {
	cfg, err := scope.Load(scope.WithLookupEnv(env(map[string]string{"NAQ_MAX_RECONECT": "7", "NAQ_MAX_RECONNECT": "3"})))
	require.NoError(t, err)
	assert.Equal(t, 3, cfg.MaxReconnectAttempts)
}
