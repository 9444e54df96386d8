package scope_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/scope"
)

// Allowed texts shared by several cases.
const (
	natsKeys     = "servers, client_name, max_reconnect_attempts, reconnect_time_wait, connection_timeout, drain_timeout, flush_timeout, ping_interval, max_outstanding_pings, tls, auth"
	tlsKeys      = "enabled, cert_file, key_file, ca_file, insecure_skip_verify"
	authKeys     = "user, password, token, nkey_seed_file, creds_file"
	durAllowed   = `seconds (a number) or a Go duration string like "2s"`
	maxReconnect = "an integer >= -1 (-1 = reconnect forever)"
	schemes      = "scheme nats://, tls://, ws:// or wss://"
	useNATS      = "use nats:// (or tls:// for TLS) instead of "
)

// configErrorCase is one bad configuration. {file} in source and msg stands
// for the path of the config file the case writes.
type configErrorCase struct {
	name       string
	file       string            // YAML written to {file} and passed with WithConfigFile
	env        map[string]string // the environment (WithLookupEnv); "{file}" values are replaced
	opts       []scope.LoadOption
	source     string // exact ConfigError.Source
	field      string // exact ConfigError.Field
	value      string // exact ConfigError.Value
	suggestion string // exact ConfigError.Suggestion
	msg        string // exact Error()
}

// TestConfigErrorMessages: every rejected configuration — YAML (wrong
// types, unknown keys at each level, bad durations, negative numbers, bad
// URLs, multi-line flow values, tabs), environment (every kind of NAQ_*
// variable) and options — is a *ConfigError naming the source (file:line,
// env var, option), the field in the user's words, the bad value, what is
// allowed and, for near misses, a suggestion. No Go type names, no
// secrets, one line.
func TestConfigErrorMessages(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	tests := []configErrorCase{
		// ---- YAML: wrong types ----
		{name: "yaml: string for an integer", file: "nats:\n  max_reconnect_attempts: \"lots\"\n",
			source: "{file}:2", field: "nats.max_reconnect_attempts", value: `"lots"`,
			msg: `nats.max_reconnect_attempts="lots" ({file}:2): allowed: ` + maxReconnect},
		{name: "yaml: quoted integer", file: "nats:\n  client_name: svc\n  max_outstanding_pings: \"3\"\n",
			source: "{file}:3", field: "nats.max_outstanding_pings", value: `"3"`, suggestion: "write 3 without quotes",
			msg: `nats.max_outstanding_pings="3" ({file}:3): allowed: an integer >= 1; write 3 without quotes`},
		{name: "yaml: fraction for an integer", file: "nats:\n  max_outstanding_pings: 1.5\n",
			source: "{file}:2", field: "nats.max_outstanding_pings", value: `"1.5"`,
			msg: `nats.max_outstanding_pings="1.5" ({file}:2): allowed: an integer >= 1`},
		{name: "yaml: scalar for the tls section", file: "nats:\n  tls: yes\n",
			source: "{file}:2", field: "nats.tls", value: `"yes"`,
			msg: `nats.tls="yes" ({file}:2): allowed: a mapping with keys ` + tlsKeys},
		{name: "yaml: list for the nats section", file: "nats: [1]\n",
			source: "{file}:1", field: "nats",
			msg: `nats ({file}:1): got a list: allowed: a mapping with keys ` + natsKeys},
		{name: "yaml: list for the document", file: "- nats\n",
			source: "{file}:1", field: "config file",
			msg: `config file ({file}:1): got a list: allowed: a mapping with keys nats, profiles`},
		{name: "yaml: list for profiles", file: "profiles: [prod]\n",
			source: "{file}:1", field: "profiles",
			msg: `profiles ({file}:1): got a list: allowed: a mapping of profile names to partial nats sections`},
		{name: "yaml: mapping for servers", file: "nats:\n  servers: {a: b}\n",
			source: "{file}:2", field: "nats.servers",
			msg: `nats.servers ({file}:2): got a mapping: allowed: a list of server URLs or one comma-separated string`},
		{name: "yaml: list for a password, value not shown", file: "nats:\n  auth:\n    password: [hunter2-secret]\n",
			source: "{file}:3", field: "nats.auth.password",
			msg: `nats.auth.password ({file}:3): got a list: allowed: a string`},
		{name: "yaml: bad bool in a multi-line flow mapping", file: "nats:\n  tls: {enabled: false,\n    insecure_skip_verify: maybe}\n",
			source: "{file}:3", field: "nats.tls.insecure_skip_verify", value: `"maybe"`,
			msg: `nats.tls.insecure_skip_verify="maybe" ({file}:3): allowed: true or false`},
		{name: "yaml: duplicate key", file: "nats:\n  client_name: x\n  client_name: y\n",
			source: "{file}:3", field: "nats.client_name",
			msg: `nats.client_name ({file}:3): already set on line 2`},

		// ---- YAML: unknown keys at each level ----
		{name: "yaml: unknown key, one letter missing", file: "nats:\n  servers: [nats://a:4222]\n  reconect_time_wait: 2\n",
			source: "{file}:3", field: "nats.reconect_time_wait", suggestion: `did you mean "reconnect_time_wait"?`,
			msg: `nats.reconect_time_wait ({file}:3): unknown key: allowed: ` + natsKeys + `; did you mean "reconnect_time_wait"?`},
		{name: "yaml: unknown top-level key", file: "natz:\n  client_name: x\n",
			source: "{file}:1", field: "natz", suggestion: `did you mean "nats"?`,
			msg: `natz ({file}:1): unknown key: allowed: nats, profiles; did you mean "nats"?`},
		{name: "yaml: settings without nats:", file: "servers: [nats://a:4222]\n",
			source: "{file}:1", field: "servers", suggestion: `did you mean "nats.servers"?`,
			msg: `servers ({file}:1): unknown key: allowed: nats, profiles; did you mean "nats.servers"?`},
		{name: "yaml: unknown tls key in a flow mapping", file: "nats:\n  tls: {enabled: true, ca_fil: /ca.pem}\n",
			source: "{file}:2", field: "nats.tls.ca_fil", suggestion: `did you mean "ca_file"?`,
			msg: `nats.tls.ca_fil ({file}:2): unknown key: allowed: ` + tlsKeys + `; did you mean "ca_file"?`},
		{name: "yaml: unknown auth key, value not shown", file: "nats:\n  auth:\n    user: u\n    pasword: hunter2-secret\n",
			source: "{file}:4", field: "nats.auth.pasword", suggestion: `did you mean "password"?`,
			msg: `nats.auth.pasword ({file}:4): unknown key: allowed: ` + authKeys + `; did you mean "password"?`},
		{name: "yaml: unknown key in a profile", file: "profiles:\n  prod:\n    ping_intervl: 3\n",
			source: "{file}:3", field: "profiles.prod.ping_intervl", suggestion: `did you mean "ping_interval"?`,
			msg: `profiles.prod.ping_intervl ({file}:3): unknown key: allowed: ` + natsKeys + `; did you mean "ping_interval"?`},
		{name: "yaml: unknown tls key in a profile, letters swapped", file: "profiles:\n  prod:\n    tls:\n      enabeld: true\n",
			source: "{file}:4", field: "profiles.prod.tls.enabeld", suggestion: `did you mean "enabled"?`,
			msg: `profiles.prod.tls.enabeld ({file}:4): unknown key: allowed: ` + tlsKeys + `; did you mean "enabled"?`},
		{name: "yaml: key at the wrong level", file: "nats:\n  enabled: true\n",
			source: "{file}:2", field: "nats.enabled", suggestion: `did you mean "tls.enabled"?`,
			msg: `nats.enabled ({file}:2): unknown key: allowed: ` + natsKeys + `; did you mean "tls.enabled"?`},
		{name: "yaml: hyphens for underscores", file: "nats:\n  reconnect-time-wait: 2\n",
			source: "{file}:2", field: "nats.reconnect-time-wait", suggestion: `did you mean "reconnect_time_wait"?`,
			msg: `nats.reconnect-time-wait ({file}:2): unknown key: allowed: ` + natsKeys + `; did you mean "reconnect_time_wait"?`},
		{name: "yaml: unknown key far from any", file: "nats:\n  colour: blue\n",
			source: "{file}:2", field: "nats.colour",
			msg: `nats.colour ({file}:2): unknown key: allowed: ` + natsKeys},

		// ---- YAML: durations, numbers, URLs ----
		{name: "yaml: bad duration after a blank line", file: "nats:\n\n  ping_interval: 2 parsecs\n",
			source: "{file}:3", field: "nats.ping_interval", value: `"2 parsecs"`,
			msg: `nats.ping_interval="2 parsecs" ({file}:3): allowed: ` + durAllowed},
		{name: "yaml: negative timeout", file: "nats:\n  drain_timeout: -1\n",
			source: "{file}:2", field: "nats.drain_timeout", value: "-1s",
			msg: `nats.drain_timeout=-1s ({file}:2): allowed: a duration > 0`},
		{name: "yaml: negative number", file: "nats:\n  client_name: x\n  max_reconnect_attempts: -3\n",
			source: "{file}:3", field: "nats.max_reconnect_attempts", value: "-3",
			msg: `nats.max_reconnect_attempts=-3 ({file}:3): allowed: ` + maxReconnect},
		{name: "yaml: negative wait in the selected profile",
			file:   "nats:\n  client_name: x\nprofiles:\n  prod:\n    reconnect_time_wait: -2s\n",
			opts:   []scope.LoadOption{scope.WithProfile("prod")},
			source: "{file}:5", field: "profiles.prod.reconnect_time_wait", value: "-2s",
			msg: `profiles.prod.reconnect_time_wait=-2s ({file}:5): allowed: a duration >= 0`},
		{name: "yaml: bad scheme in a multi-line list", file: "nats:\n  servers: [\n    \"nats://a:4222\",\n    \"http://b:4222\"]\n",
			source: "{file}:4", field: "nats.servers", value: `"http://b:4222"`, suggestion: useNATS + "http://",
			msg: `nats.servers="http://b:4222" ({file}:4): allowed: ` + schemes + "; " + useNATS + "http://"},
		{name: "yaml: URL without a scheme", file: "nats:\n  servers: localhost:4222\n",
			source: "{file}:2", field: "nats.servers", value: `"localhost:4222"`, suggestion: `did you mean "nats://localhost:4222"?`,
			msg: `nats.servers="localhost:4222" ({file}:2): allowed: ` + schemes + `; did you mean "nats://localhost:4222"?`},
		{name: "yaml: port out of range in a block list", file: "nats:\n  servers:\n    - nats://a:4222\n    - nats://b:99999\n",
			source: "{file}:4", field: "nats.servers", value: `"nats://b:99999"`,
			msg: `nats.servers="nats://b:99999" ({file}:4): allowed: a port between 1 and 65535`},
		{name: "yaml: TLS files while TLS is off", file: "nats:\n  tls:\n    ca_file: /etc/ca.pem\n",
			source: "{file}:3", field: "nats.tls.enabled", value: "false",
			msg: `nats.tls.enabled=false ({file}:3): allowed: true (or tls:// servers) when tls.cert_file/key_file/ca_file are set`},
		{name: "yaml: client name with a line break", file: "nats:\n  client_name: \"a\\nb\"\n",
			source: "{file}:2", field: "nats.client_name", value: `"a\nb"`,
			msg: `nats.client_name="a\nb" ({file}:2): allowed: a name without control characters`},

		// ---- YAML: syntax ----
		{name: "yaml: unclosed multi-line list", file: "nats:\n  servers: [\n    \"nats://a:4222\",\n    \"nats://b:4222\"\n  max_reconnect_attempts: 3\n",
			source: "{file}:4", field: "nats.servers", suggestion: "close the [ ] list or separate its items with ','",
			msg: `nats.servers ({file}:4): YAML syntax: did not find expected ',' or ']'; close the [ ] list or separate its items with ','`},
		{name: "yaml: unclosed multi-line mapping", file: "nats:\n  tls: {enabled: true,\n    ca_file: /ca.pem\n  client_name: x\n",
			source: "{file}:3", field: "nats.tls.ca_file", suggestion: "close the { } mapping or separate its entries with ','",
			msg: `nats.tls.ca_file ({file}:3): YAML syntax: did not find expected ',' or '}'; close the { } mapping or separate its entries with ','`},
		{name: "yaml: tab indentation", file: "nats:\n  client_name: x\n\tmax_reconnect_attempts: 3\n",
			source: "{file}:3", field: "nats.max_reconnect_attempts", suggestion: "indent with spaces: YAML does not allow tabs",
			msg: `nats.max_reconnect_attempts ({file}:3): YAML syntax: found a tab character that violates indentation; indent with spaces: YAML does not allow tabs`},
		{name: "yaml: tab before the first key", file: "nats:\n\tclient_name: x\n",
			source: "{file}:2", field: "nats.client_name", suggestion: "indent with spaces: YAML does not allow tabs",
			msg: `nats.client_name ({file}:2): YAML syntax: found character that cannot start any token; indent with spaces: YAML does not allow tabs`},
		{name: "yaml: colon in an unquoted value", file: "nats:\n  client_name: x\n  servers: nats://a: 4222\n",
			source: "{file}:3", field: "nats.servers", suggestion: `quote a value that contains ": "`,
			msg: `nats.servers ({file}:3): YAML syntax: mapping values are not allowed in this context; quote a value that contains ": "`},
		{name: "yaml: key indented too little", file: "nats:\n  client_name: x\n max_reconnect_attempts: 3\n",
			source: "{file}:3", field: "nats.max_reconnect_attempts", suggestion: "indent each key like the keys beside it",
			msg: `nats.max_reconnect_attempts ({file}:3): YAML syntax: did not find expected key; indent each key like the keys beside it`},

		// ---- profiles ----
		{name: "profile: unknown (option)", file: seedYAML, opts: []scope.LoadOption{scope.WithProfile("prd")},
			source: "option scope.WithProfile", field: "profile", value: `"prd"`, suggestion: `did you mean "prod"?`,
			msg: `profile="prd" (option scope.WithProfile): allowed: a profile under profiles: in {file}: "empty", "prod"; did you mean "prod"?`},
		{name: "profile: unknown (env)", file: seedYAML, env: map[string]string{"NAQ_PROFILE": "staging"},
			source: "env NAQ_PROFILE", field: "profile", value: `"staging"`,
			msg: `profile="staging" (env NAQ_PROFILE): allowed: a profile under profiles: in {file}: "empty", "prod"`},
		{name: "profile: no file (env)", env: map[string]string{"NAQ_PROFILE": "prod"},
			source: "env NAQ_PROFILE", field: "profile", value: `"prod"`,
			suggestion: "set NAQ_CONFIG to the config file that defines the profile",
			msg:        `profile="prod" (env NAQ_PROFILE): no config file is set: allowed: the name of a profile under profiles: in the config file; set NAQ_CONFIG to the config file that defines the profile`},
		{name: "profile: no file (option)", opts: []scope.LoadOption{scope.WithProfile("prod")},
			source: "option scope.WithProfile", field: "profile", value: `"prod"`,
			suggestion: "name the config file with scope.WithConfigFile or NAQ_CONFIG",
			msg:        `profile="prod" (option scope.WithProfile): no config file is set: allowed: the name of a profile under profiles: in the config file; name the config file with scope.WithConfigFile or NAQ_CONFIG`},

		// ---- environment: every kind of NAQ_* variable ----
		{name: "env: integer", env: map[string]string{"NAQ_MAX_RECONNECT": "lots"},
			source: "env NAQ_MAX_RECONNECT", field: "nats.max_reconnect_attempts", value: `"lots"`,
			msg: `nats.max_reconnect_attempts="lots" (env NAQ_MAX_RECONNECT): allowed: ` + maxReconnect},
		{name: "env: integer out of range", env: map[string]string{"NAQ_MAX_RECONNECT": "-7"},
			source: "env NAQ_MAX_RECONNECT", field: "nats.max_reconnect_attempts", value: "-7",
			msg: `nats.max_reconnect_attempts=-7 (env NAQ_MAX_RECONNECT): allowed: ` + maxReconnect},
		{name: "env: zero pings", env: map[string]string{"NAQ_MAX_OUTSTANDING_PINGS": "0"},
			source: "env NAQ_MAX_OUTSTANDING_PINGS", field: "nats.max_outstanding_pings", value: "0",
			msg: `nats.max_outstanding_pings=0 (env NAQ_MAX_OUTSTANDING_PINGS): allowed: an integer >= 1`},
		{name: "env: duration with a word unit", env: map[string]string{"NAQ_RECONNECT_TIME_WAIT": "2 sec"},
			source: "env NAQ_RECONNECT_TIME_WAIT", field: "nats.reconnect_time_wait", value: `"2 sec"`,
			msg: `nats.reconnect_time_wait="2 sec" (env NAQ_RECONNECT_TIME_WAIT): allowed: ` + durAllowed},
		{name: "env: zero timeout", env: map[string]string{"NAQ_CONNECTION_TIMEOUT": "0"},
			source: "env NAQ_CONNECTION_TIMEOUT", field: "nats.connection_timeout", value: "0s",
			msg: `nats.connection_timeout=0s (env NAQ_CONNECTION_TIMEOUT): allowed: a duration > 0`},
		{name: "env: negative timeout", env: map[string]string{"NAQ_DRAIN_TIMEOUT": "-5s"},
			source: "env NAQ_DRAIN_TIMEOUT", field: "nats.drain_timeout", value: "-5s",
			msg: `nats.drain_timeout=-5s (env NAQ_DRAIN_TIMEOUT): allowed: a duration > 0`},
		{name: "env: duration word", env: map[string]string{"NAQ_FLUSH_TIMEOUT": "soon"},
			source: "env NAQ_FLUSH_TIMEOUT", field: "nats.flush_timeout", value: `"soon"`,
			msg: `nats.flush_timeout="soon" (env NAQ_FLUSH_TIMEOUT): allowed: ` + durAllowed},
		{name: "env: zero interval", env: map[string]string{"NAQ_PING_INTERVAL": "0"},
			source: "env NAQ_PING_INTERVAL", field: "nats.ping_interval", value: "0s",
			msg: `nats.ping_interval=0s (env NAQ_PING_INTERVAL): allowed: a duration > 0`},
		{name: "env: bool", env: map[string]string{"NAQ_TLS_ENABLED": "maybe"},
			source: "env NAQ_TLS_ENABLED", field: "nats.tls.enabled", value: `"maybe"`,
			msg: `nats.tls.enabled="maybe" (env NAQ_TLS_ENABLED): allowed: true or false (1, 0, t, f, TRUE, FALSE)`},
		{name: "env: yes is no bool", env: map[string]string{"NAQ_TLS_INSECURE_SKIP_VERIFY": "yes"},
			source: "env NAQ_TLS_INSECURE_SKIP_VERIFY", field: "nats.tls.insecure_skip_verify", value: `"yes"`,
			msg: `nats.tls.insecure_skip_verify="yes" (env NAQ_TLS_INSECURE_SKIP_VERIFY): allowed: true or false (1, 0, t, f, TRUE, FALSE)`},
		{name: "env: missing CA file", env: map[string]string{"NAQ_TLS_ENABLED": "true", "NAQ_TLS_CA_FILE": missing},
			source: "env NAQ_TLS_CA_FILE", field: "nats.tls.ca_file", value: `"` + missing + `"`,
			msg: `nats.tls.ca_file="` + missing + `" (env NAQ_TLS_CA_FILE): open ` + missing + `: no such file or directory: allowed: a readable PEM file of CA certificates`},
		{name: "env: certificate without key", env: map[string]string{"NAQ_TLS_ENABLED": "1", "NAQ_TLS_CERT_FILE": "/c.pem"},
			source: "env NAQ_TLS_CERT_FILE", field: "nats.tls.key_file", value: `""`,
			msg: `nats.tls.key_file="" (env NAQ_TLS_CERT_FILE): allowed: a key file whenever tls.cert_file is set (/c.pem)`},
		{name: "env: key without certificate", env: map[string]string{"NAQ_TLS_ENABLED": "1", "NAQ_TLS_KEY_FILE": "/k.pem"},
			source: "env NAQ_TLS_KEY_FILE", field: "nats.tls.cert_file", value: `""`,
			msg: `nats.tls.cert_file="" (env NAQ_TLS_KEY_FILE): allowed: a certificate file whenever tls.key_file is set (/k.pem)`},
		{name: "env: user without password", env: map[string]string{"NAQ_AUTH_USER": "u"},
			source: "env NAQ_AUTH_USER", field: "nats.auth.password", value: `""`,
			msg: `nats.auth.password="" (env NAQ_AUTH_USER): allowed: a password whenever auth.user is set`},
		{name: "env: password without user", env: map[string]string{"NAQ_AUTH_PASSWORD": "pw-secret"},
			source: "env NAQ_AUTH_PASSWORD", field: "nats.auth.user", value: `""`,
			msg: `nats.auth.user="" (env NAQ_AUTH_PASSWORD): allowed: a user whenever auth.password is set`},
		{name: "env: two auth methods", env: map[string]string{"NAQ_AUTH_TOKEN": "tok-secret", "NAQ_AUTH_CREDS_FILE": "/x.creds"},
			source: "env NAQ_AUTH_TOKEN, env NAQ_AUTH_CREDS_FILE", field: "nats.auth", value: "token + creds_file",
			msg: `nats.auth=token + creds_file (env NAQ_AUTH_TOKEN, env NAQ_AUTH_CREDS_FILE): allowed: at most one of user/password, token, nkey_seed_file, creds_file`},
		{name: "env: auth methods from file and env", file: "nats:\n  auth:\n    creds_file: /x.creds\n",
			env:    map[string]string{"NAQ_AUTH_TOKEN": "tok-secret"},
			source: "env NAQ_AUTH_TOKEN, {file}:3", field: "nats.auth", value: "token + creds_file",
			msg: `nats.auth=token + creds_file (env NAQ_AUTH_TOKEN, {file}:3): allowed: at most one of user/password, token, nkey_seed_file, creds_file`},
		{name: "env: missing nkey seed file", env: map[string]string{"NAQ_AUTH_NKEY_SEED_FILE": missing},
			source: "env NAQ_AUTH_NKEY_SEED_FILE", field: "nats.auth.nkey_seed_file", value: `"` + missing + `"`,
			msg: `nats.auth.nkey_seed_file="` + missing + `" (env NAQ_AUTH_NKEY_SEED_FILE): open ` + missing + `: no such file or directory: allowed: a readable file`},
		{name: "env: URL scheme, password redacted", env: map[string]string{"NAQ_NATS_URL": "nats://a:4222,http://bob:hunter2@h:4222"},
			source: "env NAQ_NATS_URL", field: "nats.servers", value: `"http://bob:xxxxx@h:4222"`, suggestion: useNATS + "http://",
			msg: `nats.servers="http://bob:xxxxx@h:4222" (env NAQ_NATS_URL): allowed: ` + schemes + "; " + useNATS + "http://"},
		{name: "env: empty server list", env: map[string]string{"NAQ_NATS_URL": " , "},
			source: "env NAQ_NATS_URL", field: "nats.servers", value: "[]",
			msg: `nats.servers=[] (env NAQ_NATS_URL): allowed: at least one server URL, e.g. nats://localhost:4222`},
		{name: "env: NATS_URL fallback", env: map[string]string{"NATS_URL": "ftp://x:21"},
			source: "env NATS_URL", field: "nats.servers", value: `"ftp://x:21"`, suggestion: useNATS + "ftp://",
			msg: `nats.servers="ftp://x:21" (env NATS_URL): allowed: ` + schemes + "; " + useNATS + "ftp://"},
		{name: "env: client name with a line break", env: map[string]string{"NAQ_CLIENT_NAME": "a\nb"},
			source: "env NAQ_CLIENT_NAME", field: "nats.client_name", value: `"a\nb"`,
			msg: `nats.client_name="a\nb" (env NAQ_CLIENT_NAME): allowed: a name without control characters`},
		{name: "env: missing config file", env: map[string]string{"NAQ_CONFIG": filepath.Join(dir, "nope.yaml")},
			source: "env NAQ_CONFIG", field: "config file", value: `"` + filepath.Join(dir, "nope.yaml") + `"`,
			msg: `config file="` + filepath.Join(dir, "nope.yaml") + `" (env NAQ_CONFIG): open ` + filepath.Join(dir, "nope.yaml") + `: no such file or directory: allowed: a readable YAML file`},

		// ---- options ----
		{name: "option: negative timeout", opts: []scope.LoadOption{scope.WithDrainTimeout(-time.Second)},
			source: "option scope.WithDrainTimeout", field: "nats.drain_timeout", value: "-1s",
			msg: `nats.drain_timeout=-1s (option scope.WithDrainTimeout): allowed: a duration > 0`},
		{name: "option: bad scheme", opts: []scope.LoadOption{scope.WithServers("nats://a:4222", "https://b:4222")},
			source: "option scope.WithServers", field: "nats.servers", value: `"https://b:4222"`, suggestion: useNATS + "https://",
			msg: `nats.servers="https://b:4222" (option scope.WithServers): allowed: ` + schemes + "; " + useNATS + "https://"},
		{name: "option: WithConfig", opts: []scope.LoadOption{scope.WithConfig(func() scope.Config {
			c := scope.DefaultConfig()
			c.PingInterval = 0
			return c
		}())},
			source: "option scope.WithConfig", field: "nats.ping_interval", value: "0s",
			msg: `nats.ping_interval=0s (option scope.WithConfig): allowed: a duration > 0`},
		{name: "option: WithConfigEdit", opts: []scope.LoadOption{scope.WithConfigEdit(func(c *scope.Config) { c.MaxOutstandingPings = 0 })},
			source: "option scope.WithConfigEdit", field: "nats.max_outstanding_pings", value: "0",
			msg: `nats.max_outstanding_pings=0 (option scope.WithConfigEdit): allowed: an integer >= 1`},
		{name: "option: WithTLS", opts: []scope.LoadOption{scope.WithTLS(scope.TLSConfig{Enabled: true, CertFile: "/c.pem"})},
			source: "option scope.WithTLS", field: "nats.tls.key_file", value: `""`,
			msg: `nats.tls.key_file="" (option scope.WithTLS): allowed: a key file whenever tls.cert_file is set (/c.pem)`},
		{name: "option: missing config file", opts: []scope.LoadOption{scope.WithConfigFile(filepath.Join(dir, "nope.yaml"))},
			source: "option scope.WithConfigFile", field: "config file", value: `"` + filepath.Join(dir, "nope.yaml") + `"`,
			msg: `config file="` + filepath.Join(dir, "nope.yaml") + `" (option scope.WithConfigFile): open ` + filepath.Join(dir, "nope.yaml") + `: no such file or directory: allowed: a readable YAML file`},
		{name: "option beats file: source is the option", file: "nats:\n  drain_timeout: -1\n",
			opts:   []scope.LoadOption{scope.WithDrainTimeout(0)},
			source: "option scope.WithDrainTimeout", field: "nats.drain_timeout", value: "0s",
			msg: `nats.drain_timeout=0s (option scope.WithDrainTimeout): allowed: a duration > 0`},
	}
	require.GreaterOrEqual(t, len(tests), 30)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			var opts []scope.LoadOption
			if tc.file != "" {
				path = writeFile(t, "naq.yaml", tc.file)
				opts = append(opts, scope.WithConfigFile(path))
			}
			e := map[string]string{}
			for k, v := range tc.env {
				e[k] = strings.ReplaceAll(v, "{file}", path)
			}
			if _, ok := e["NAQ_PROFILE"]; ok && path != "" {
				e["NAQ_CONFIG"], opts = path, nil // the file through the environment
			}
			opts = append(append([]scope.LoadOption{scope.WithLookupEnv(env(e))}, opts...), tc.opts...)
			cfg, err := scope.Load(opts...)
			require.Error(t, err, "loaded %v", cfg)
			assertConfigError(t, err, tc, path)
		})
	}
}

func assertConfigError(t *testing.T, err error, tc configErrorCase, path string) {
	t.Helper()
	fill := func(s string) string { return strings.ReplaceAll(s, "{file}", path) }
	assert.ErrorIs(t, err, scope.ErrInvalidConfig)
	var ce *scope.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, fill(tc.source), ce.Source, "source")
	assert.Equal(t, tc.field, ce.Field, "field")
	assert.Equal(t, tc.value, ce.Value, "value")
	assert.Equal(t, tc.suggestion, ce.Suggestion, "suggestion")
	msg := err.Error()
	assert.Equal(t, "scope: invalid config: "+fill(tc.msg), msg)
	assert.NotContains(t, msg, "\n", "one line")
	for _, leak := range []string{"secret", "hunter2", "natsSection", "fileDoc", "!!", "yaml: line"} {
		assert.NotContains(t, msg, leak)
	}
	// Options are named as users call them (scope.WithDrainTimeout); no
	// other Go name of the package shows.
	assert.NotRegexp(t, `scope\.(?:[a-z]|Config\b|TLSConfig|AuthConfig|Secret)`, msg, "Go type names")
}

// TestConfigErrorOpenURLArgument: the url argument of Open (and the
// helpers) is named as such, and a bad one fails before any dial.
func TestConfigErrorOpenURLArgument(t *testing.T) {
	_, err := scope.Open(context.Background(), "nats://a:0", scope.WithLookupEnv(noEnv))
	assertConfigError(t, err, configErrorCase{
		source: "argument url", field: "nats.servers", value: `"nats://a:0"`,
		msg: `nats.servers="nats://a:0" (argument url): allowed: a port between 1 and 65535`,
	}, "")
}

// TestConfigErrorSourcesOverWithConfig: a WithConfig base is the source of
// every field no later layer sets; the url argument and explicit options
// replace it as the source of the fields they set, and an error that
// combines fields names each source once, in the order of the fields.
func TestConfigErrorSourcesOverWithConfig(t *testing.T) {
	valid := scope.DefaultConfig()
	withToken := scope.DefaultConfig()
	withToken.Auth.Token = "tok-secret"
	certOnly := scope.DefaultConfig()
	certOnly.TLS = scope.TLSConfig{Enabled: true, CertFile: "/c.pem"}
	twoServers := scope.DefaultConfig()
	twoServers.Servers = []string{"nats://a:4222", "nats://b:0"}
	tests := []struct {
		url  string
		opts []scope.Option
		want configErrorCase
	}{
		{url: "nats://a:4222,http://b:1", opts: []scope.Option{scope.WithConfig(valid)},
			want: configErrorCase{source: "argument url", field: "nats.servers", value: `"http://b:1"`,
				suggestion: useNATS + "http://",
				msg:        `nats.servers="http://b:1" (argument url): allowed: ` + schemes + "; " + useNATS + "http://"}},
		{opts: []scope.Option{scope.WithConfig(twoServers)},
			want: configErrorCase{source: "option scope.WithConfig", field: "nats.servers", value: `"nats://b:0"`,
				msg: `nats.servers="nats://b:0" (option scope.WithConfig): allowed: a port between 1 and 65535`}},
		{opts: []scope.Option{scope.WithConfig(withToken), scope.WithConfigEdit(func(c *scope.Config) { c.Auth.CredsFile = "/x.creds" })},
			want: configErrorCase{source: "option scope.WithConfig, option scope.WithConfigEdit", field: "nats.auth",
				value: "token + creds_file",
				msg:   `nats.auth=token + creds_file (option scope.WithConfig, option scope.WithConfigEdit): allowed: at most one of user/password, token, nkey_seed_file, creds_file`}},
		{opts: []scope.Option{scope.WithConfig(certOnly)},
			want: configErrorCase{source: "option scope.WithConfig", field: "nats.tls.key_file", value: `""`,
				msg: `nats.tls.key_file="" (option scope.WithConfig): allowed: a key file whenever tls.cert_file is set (/c.pem)`}},
		{opts: []scope.Option{scope.WithConfig(valid), scope.WithDrainTimeout(0)},
			want: configErrorCase{source: "option scope.WithDrainTimeout", field: "nats.drain_timeout", value: "0s",
				msg: `nats.drain_timeout=0s (option scope.WithDrainTimeout): allowed: a duration > 0`}},
	}
	for _, tc := range tests {
		t.Run(tc.want.msg, func(t *testing.T) {
			for range 2 { // the same error on every call
				s, err := scope.Open(context.Background(), tc.url, tc.opts...)
				require.Nil(t, s)
				assertConfigError(t, err, tc.want, "")
			}
		})
	}
}

// TestValidateWithoutSource: Config.Validate on a hand-built Config names
// the field; there is no source to name.
func TestValidateWithoutSource(t *testing.T) {
	c := scope.DefaultConfig()
	c.MaxReconnectAttempts = -2
	err := c.Validate()
	assertConfigError(t, err, configErrorCase{
		field: "nats.max_reconnect_attempts", value: "-2",
		msg: `nats.max_reconnect_attempts=-2: allowed: ` + maxReconnect,
	}, "")
}

// TestOptionErrorsNameTheOption: every explicit config option given a bad
// value fails Open (and so every helper) before any dial with a
// *ConfigError whose source is the option as a user calls it, whatever the
// compiler inlined; the field is the file's name for it, the value and
// what is allowed follow.
func TestOptionErrorsNameTheOption(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.creds")
	tests := []struct {
		opt                          scope.LoadOption
		source, field, value, allows string
	}{
		{scope.WithServers("localhost:4222"), "option scope.WithServers", "nats.servers", `"localhost:4222"`, schemes},
		{scope.WithClientName("a\nb"), "option scope.WithClientName", "nats.client_name", `"a\nb"`, "a name without control characters"},
		{scope.WithMaxReconnectAttempts(-3), "option scope.WithMaxReconnectAttempts", "nats.max_reconnect_attempts", "-3", maxReconnect},
		{scope.WithReconnectTimeWait(-time.Second), "option scope.WithReconnectTimeWait", "nats.reconnect_time_wait", "-1s", "a duration >= 0"},
		{scope.WithConnectionTimeout(0), "option scope.WithConnectionTimeout", "nats.connection_timeout", "0s", "a duration > 0"},
		{scope.WithDrainTimeout(-time.Millisecond), "option scope.WithDrainTimeout", "nats.drain_timeout", "-1ms", "a duration > 0"},
		{scope.WithFlushTimeout(0), "option scope.WithFlushTimeout", "nats.flush_timeout", "0s", "a duration > 0"},
		{scope.WithPingInterval(0), "option scope.WithPingInterval", "nats.ping_interval", "0s", "a duration > 0"},
		{scope.WithMaxOutstandingPings(0), "option scope.WithMaxOutstandingPings", "nats.max_outstanding_pings", "0", "an integer >= 1"},
		{scope.WithTLS(scope.TLSConfig{KeyFile: "/k.pem"}), "option scope.WithTLS", "nats.tls.cert_file", `""`,
			"a certificate file whenever tls.key_file is set (/k.pem)"},
		{scope.WithUserPassword("bob", ""), "option scope.WithUserPassword", "nats.auth.password", `""`, "a password whenever auth.user is set"},
		{scope.WithUserPassword("", "hunter2"), "option scope.WithUserPassword", "nats.auth.user", `""`, "a user whenever auth.password is set"},
		{scope.WithNKeySeedFile(missing), "option scope.WithNKeySeedFile", "nats.auth.nkey_seed_file", `"` + missing + `"`, "a readable file"},
		{scope.WithCredsFile(missing), "option scope.WithCredsFile", "nats.auth.creds_file", `"` + missing + `"`, "a readable file"},
		{scope.WithConfigEdit(func(c *scope.Config) { c.TLS.CAFile = missing }), "option scope.WithConfigEdit", "nats.tls.enabled", "false",
			"true (or tls:// servers) when tls.cert_file/key_file/ca_file are set"},
	}
	p := newPool(t)
	for _, tc := range tests {
		t.Run(tc.source, func(t *testing.T) {
			_, err := scope.Open(context.Background(), "", scope.WithPool(p), scope.WithLookupEnv(noEnv), tc.opt)
			var ce *scope.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.source, ce.Source)
			assert.Equal(t, tc.field, ce.Field)
			assert.Equal(t, tc.value, ce.Value)
			assert.Equal(t, tc.allows, ce.Allowed)
			assert.Contains(t, err.Error(), tc.field+"="+tc.value+" ("+tc.source+")")
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
	assert.Zero(t, p.Len(), "no option error dials")

	// The token of a WithToken that loses to a later option is not blamed.
	_, err := scope.Load(scope.WithLookupEnv(env(map[string]string{"NAQ_AUTH_TOKEN": "s3cret"})),
		scope.WithUserPassword("bob", ""))
	var ce *scope.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "option scope.WithUserPassword", ce.Source, "the option replaced the token from the environment")
}
