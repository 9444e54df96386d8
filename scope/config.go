package scope

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.yaml.in/yaml/v3"
)

// Default configuration values (the NAQ seed's defaults).
const (
	// DefaultServer is the server URL used when nothing else names one.
	DefaultServer = "nats://localhost:4222"
	// DefaultClientName is the connection name reported to the server.
	DefaultClientName = "naq-client"
	// DefaultMaxReconnectAttempts is nats.go's MaxReconnects (-1 = forever).
	DefaultMaxReconnectAttempts = 5
	// DefaultReconnectTimeWait is the wait between reconnect attempts.
	DefaultReconnectTimeWait = 2 * time.Second
	// DefaultConnectionTimeout bounds one connect attempt to one server.
	DefaultConnectionTimeout = 10 * time.Second
	// DefaultDrainTimeout bounds draining a connection on its last release.
	DefaultDrainTimeout = 30 * time.Second
	// DefaultFlushTimeout bounds a flush (health check RTT) and nats.go's
	// flusher writes.
	DefaultFlushTimeout = 5 * time.Second
	// DefaultPingInterval is the client ping interval.
	DefaultPingInterval = 120 * time.Second
	// DefaultMaxOutstandingPings is how many unanswered pings close the
	// connection as stale.
	DefaultMaxOutstandingPings = 2
)

// Environment variables read by [Load]. An empty value counts as unset.
const (
	// EnvConfig names the YAML config file (overridden by [WithConfigFile]).
	EnvConfig = "NAQ_CONFIG"
	// EnvProfile names the profile to overlay (overridden by [WithProfile]).
	EnvProfile = "NAQ_PROFILE"
	// EnvNATSURL is a comma-separated list of server URLs (servers).
	EnvNATSURL = "NAQ_NATS_URL"
	// EnvNATSURLFallback (NATS_URL) is used for servers when neither
	// NAQ_NATS_URL nor the file or profile set them.
	EnvNATSURLFallback = "NATS_URL"
	// EnvClientName sets client_name.
	EnvClientName = "NAQ_CLIENT_NAME"
	// EnvMaxReconnect sets max_reconnect_attempts (integer).
	EnvMaxReconnect = "NAQ_MAX_RECONNECT"
	// EnvReconnectTimeWait sets reconnect_time_wait (seconds or Go duration).
	EnvReconnectTimeWait = "NAQ_RECONNECT_TIME_WAIT"
	// EnvConnectionTimeout sets connection_timeout (seconds or Go duration).
	EnvConnectionTimeout = "NAQ_CONNECTION_TIMEOUT"
	// EnvDrainTimeout sets drain_timeout (seconds or Go duration).
	EnvDrainTimeout = "NAQ_DRAIN_TIMEOUT"
	// EnvFlushTimeout sets flush_timeout (seconds or Go duration).
	EnvFlushTimeout = "NAQ_FLUSH_TIMEOUT"
	// EnvPingInterval sets ping_interval (seconds or Go duration).
	EnvPingInterval = "NAQ_PING_INTERVAL"
	// EnvMaxOutstandingPings sets max_outstanding_pings (integer).
	EnvMaxOutstandingPings = "NAQ_MAX_OUTSTANDING_PINGS"
	// EnvTLSEnabled sets tls.enabled (a strconv.ParseBool value).
	EnvTLSEnabled = "NAQ_TLS_ENABLED"
	// EnvTLSCertFile sets tls.cert_file.
	EnvTLSCertFile = "NAQ_TLS_CERT_FILE"
	// EnvTLSKeyFile sets tls.key_file.
	EnvTLSKeyFile = "NAQ_TLS_KEY_FILE"
	// EnvTLSCAFile sets tls.ca_file.
	EnvTLSCAFile = "NAQ_TLS_CA_FILE"
	// EnvTLSInsecureSkipVerify sets tls.insecure_skip_verify (bool).
	EnvTLSInsecureSkipVerify = "NAQ_TLS_INSECURE_SKIP_VERIFY"
	// EnvAuthUser sets auth.user.
	EnvAuthUser = "NAQ_AUTH_USER"
	// EnvAuthPassword sets auth.password.
	EnvAuthPassword = "NAQ_AUTH_PASSWORD"
	// EnvAuthToken sets auth.token.
	EnvAuthToken = "NAQ_AUTH_TOKEN"
	// EnvAuthNKeySeedFile sets auth.nkey_seed_file.
	EnvAuthNKeySeedFile = "NAQ_AUTH_NKEY_SEED_FILE"
	// EnvAuthCredsFile sets auth.creds_file.
	EnvAuthCredsFile = "NAQ_AUTH_CREDS_FILE"
)

// Config is the effective NATS connection configuration: the fields of the
// NAQ seed's `nats:` section plus tls and auth. The zero value is not valid;
// start from [DefaultConfig] or [Load]. A Config is a plain value: copy it
// freely (Servers is a slice; [Config.Clone] copies it too).
//
// Printing a Config never reveals secrets: String, GoString and every fmt
// verb redact passwords and tokens, including a password in a server URL.
type Config struct {
	// Servers are the server URLs (nats://, tls://, ws://, wss://). At least
	// one is required. Default [DefaultServer].
	Servers []string `yaml:"servers" json:"servers"`
	// ClientName is the connection name shown by the server. Default
	// [DefaultClientName]; empty means no name.
	ClientName string `yaml:"client_name" json:"client_name"`
	// MaxReconnectAttempts is the number of reconnect attempts after a lost
	// connection; -1 retries forever, 0 never reconnects. Default 5.
	MaxReconnectAttempts int `yaml:"max_reconnect_attempts" json:"max_reconnect_attempts"`
	// ReconnectTimeWait is the wait between reconnect attempts (>= 0).
	// Default 2s.
	ReconnectTimeWait time.Duration `yaml:"reconnect_time_wait" json:"reconnect_time_wait"`
	// ConnectionTimeout bounds one connect attempt (> 0). Default 10s.
	ConnectionTimeout time.Duration `yaml:"connection_timeout" json:"connection_timeout"`
	// DrainTimeout bounds draining on the last release (> 0). Default 30s.
	DrainTimeout time.Duration `yaml:"drain_timeout" json:"drain_timeout"`
	// FlushTimeout bounds flushes: the health check's RTT measurement and
	// nats.go's flusher writes (> 0). Default 5s.
	FlushTimeout time.Duration `yaml:"flush_timeout" json:"flush_timeout"`
	// PingInterval is the client ping interval (> 0). Default 2m.
	PingInterval time.Duration `yaml:"ping_interval" json:"ping_interval"`
	// MaxOutstandingPings is how many unanswered pings mark the connection
	// stale (>= 1). Default 2.
	MaxOutstandingPings int `yaml:"max_outstanding_pings" json:"max_outstanding_pings"`
	// TLS configures transport security.
	TLS TLSConfig `yaml:"tls" json:"tls"`
	// Auth configures at most one authentication method.
	Auth AuthConfig `yaml:"auth" json:"auth"`
}

// TLSConfig is the `tls:` section. TLS is used when Enabled is true or a
// server URL uses tls:// or wss://; setting a file while TLS is not used is a
// validation error (rather than silently ignoring it).
type TLSConfig struct {
	// Enabled turns TLS on.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// CertFile is the client certificate (PEM); requires KeyFile.
	CertFile string `yaml:"cert_file" json:"cert_file"`
	// KeyFile is the client private key (PEM); requires CertFile.
	KeyFile string `yaml:"key_file" json:"key_file"`
	// CAFile holds the PEM root CAs that verify the server; empty means the
	// system roots.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// InsecureSkipVerify disables server certificate verification. Default
	// false; only for tests.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
}

// AuthConfig is the `auth:` section. At most one method may be set:
// user+password, token, nkey seed file, or creds file.
type AuthConfig struct {
	// User is the user name; requires Password.
	User string `yaml:"user" json:"user"`
	// Password is the user's password (redacted when printed).
	Password Secret `yaml:"password" json:"password"`
	// Token is an authentication token (redacted when printed).
	Token Secret `yaml:"token" json:"token"`
	// NKeySeedFile is a file holding an nkey user seed.
	NKeySeedFile string `yaml:"nkey_seed_file" json:"nkey_seed_file"`
	// CredsFile is a .creds file (user JWT + nkey seed), for decentralised
	// (operator mode) auth.
	CredsFile string `yaml:"creds_file" json:"creds_file"`
}

// Redacted is what a non-empty [Secret] prints as.
const Redacted = "REDACTED"

// Secret is a string that never prints: String, GoString, every fmt verb and
// YAML/JSON/text marshalling show [Redacted] (or "" when empty). Use
// [Secret.Value] to read it.
type Secret string

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String returns [Redacted], or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString returns the quoted redacted form (for %#v).
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText returns the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML returns the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// DefaultConfig returns the seed's defaults: one server [DefaultServer],
// client name [DefaultClientName], 5 reconnect attempts 2s apart, 10s connect
// timeout, 30s drain timeout, 5s flush timeout, 2m ping interval, 2
// outstanding pings, no TLS, no auth.
func DefaultConfig() Config {
	return Config{
		Servers:              []string{DefaultServer},
		ClientName:           DefaultClientName,
		MaxReconnectAttempts: DefaultMaxReconnectAttempts,
		ReconnectTimeWait:    DefaultReconnectTimeWait,
		ConnectionTimeout:    DefaultConnectionTimeout,
		DrainTimeout:         DefaultDrainTimeout,
		FlushTimeout:         DefaultFlushTimeout,
		PingInterval:         DefaultPingInterval,
		MaxOutstandingPings:  DefaultMaxOutstandingPings,
	}
}

// Clone returns a deep copy of c.
func (c Config) Clone() Config {
	c.Servers = append([]string(nil), c.Servers...)
	return c
}

// Redacted returns a copy of c that is safe to print or record: passwords
// and tokens are replaced by [Redacted] (so the copy cannot connect), and a
// password embedded in a server URL is masked too.
func (c Config) Redacted() Config {
	c = c.Clone()
	for i, s := range c.Servers {
		c.Servers[i] = redactURL(s)
	}
	if c.Auth.Password != "" {
		c.Auth.Password = Redacted
	}
	if c.Auth.Token != "" {
		c.Auth.Token = Redacted
	}
	return c
}

// String prints the configuration with secrets redacted. It also serves %v
// and %+v.
func (c Config) String() string {
	r := c.Redacted()
	return fmt.Sprintf("{servers:%v client_name:%q max_reconnect_attempts:%d reconnect_time_wait:%v "+
		"connection_timeout:%v drain_timeout:%v flush_timeout:%v ping_interval:%v max_outstanding_pings:%d "+
		"tls:%v auth:%v}",
		r.Servers, r.ClientName, r.MaxReconnectAttempts, r.ReconnectTimeWait, r.ConnectionTimeout,
		r.DrainTimeout, r.FlushTimeout, r.PingInterval, r.MaxOutstandingPings, r.TLS, r.Auth)
}

// GoString prints the configuration as Go syntax with secrets redacted (%#v).
func (c Config) GoString() string { return "scope.Config" + c.String() }

// String prints the auth section with secrets redacted.
func (a AuthConfig) String() string {
	return fmt.Sprintf("{user:%q password:%q token:%q nkey_seed_file:%q creds_file:%q}",
		a.User, a.Password.String(), a.Token.String(), a.NKeySeedFile, a.CredsFile)
}

// GoString prints the auth section with secrets redacted (%#v).
func (a AuthConfig) GoString() string { return "scope.AuthConfig" + a.String() }

// String prints the tls section.
func (t TLSConfig) String() string {
	return fmt.Sprintf("{enabled:%t cert_file:%q key_file:%q ca_file:%q insecure_skip_verify:%t}",
		t.Enabled, t.CertFile, t.KeyFile, t.CAFile, t.InsecureSkipVerify)
}

// YAML renders the configuration as a config file (`nats:` section,
// durations as Go duration strings) with secrets redacted; `naq config
// check` prints it.
func (c Config) YAML() ([]byte, error) {
	return yaml.Marshal(map[string]any{"nats": c.yamlSection()})
}

// yamlSection is the printable `nats:` section of c (redacted, durations as
// strings).
func (c Config) yamlSection() yamlNATS {
	r := c.Redacted()
	return yamlNATS{
		Servers:              r.Servers,
		ClientName:           r.ClientName,
		MaxReconnectAttempts: r.MaxReconnectAttempts,
		ReconnectTimeWait:    r.ReconnectTimeWait.String(),
		ConnectionTimeout:    r.ConnectionTimeout.String(),
		DrainTimeout:         r.DrainTimeout.String(),
		FlushTimeout:         r.FlushTimeout.String(),
		PingInterval:         r.PingInterval.String(),
		MaxOutstandingPings:  r.MaxOutstandingPings,
		TLS:                  r.TLS,
		Auth:                 r.Auth,
	}
}

// MarshalYAML renders the redacted `nats:` section (see [Config.YAML]), so
// yaml.Marshal never leaks secrets either.
func (c Config) MarshalYAML() (any, error) { return c.yamlSection(), nil }

// MarshalJSON renders the redacted configuration (durations in
// nanoseconds), so json.Marshal never leaks secrets.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config
	return json.Marshal(plain(c.Redacted()))
}

type yamlNATS struct {
	Servers              []string   `yaml:"servers"`
	ClientName           string     `yaml:"client_name"`
	MaxReconnectAttempts int        `yaml:"max_reconnect_attempts"`
	ReconnectTimeWait    string     `yaml:"reconnect_time_wait"`
	ConnectionTimeout    string     `yaml:"connection_timeout"`
	DrainTimeout         string     `yaml:"drain_timeout"`
	FlushTimeout         string     `yaml:"flush_timeout"`
	PingInterval         string     `yaml:"ping_interval"`
	MaxOutstandingPings  int        `yaml:"max_outstanding_pings"`
	TLS                  TLSConfig  `yaml:"tls"`
	Auth                 AuthConfig `yaml:"auth"`
}

// redactURL masks the password of a URL's user info (nats://u:p@h → u:xxxxx).
// When url.Parse cannot find the user info although the string holds an '@'
// (an unescaped '%', '#' or '/' in a password, or "user:pw@host" without a
// scheme), everything from after the scheme to the last '@' is masked, since
// nobody can tell where the credentials end.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.User == nil && strings.Contains(u.Opaque, "@")) {
		at := strings.LastIndex(s, "@")
		if at < 0 {
			return s
		}
		start := 0
		if i := strings.Index(s, "://"); i >= 0 && i < at {
			start = i + len("://")
		}
		return s[:start] + Redacted + s[at:]
	}
	if u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		return u.Redacted()
	}
	// A bare user info may be a token (nats://token@host).
	u.User = url.User(Redacted)
	return u.String()
}

// usesTLS reports whether the configuration connects with TLS.
func (c Config) usesTLS() bool {
	if c.TLS.Enabled {
		return true
	}
	for _, s := range c.Servers {
		if u, err := url.Parse(s); err == nil && (u.Scheme == "tls" || u.Scheme == "wss") {
			return true
		}
	}
	return false
}

// allowedSchemes are the URL schemes nats.go dials.
var allowedSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

// Validate checks every field and the files the config names. It returns
// the first problem as a [*ConfigError] (errors.Is [ErrInvalidConfig]) whose
// Field is the "nats." path of the field; [Load] also names the source of
// the value.
func (c Config) Validate() error {
	if ce := c.validate(); ce != nil {
		return ce
	}
	return nil
}

// fieldError is a validation error about the field key (its path under
// nats:).
func fieldError(key, value, allowed string, blame ...string) *ConfigError {
	return &ConfigError{Field: "nats." + key, Value: value, Allowed: allowed, key: key, blame: blame}
}

func (c Config) validate() *ConfigError {
	if len(c.Servers) == 0 {
		return fieldError("servers", "[]", "at least one server URL, e.g. nats://localhost:4222")
	}
	for i, s := range c.Servers {
		if ce := validateServer(s); ce != nil {
			ce.item = i + 1
			return ce
		}
	}
	if c.MaxReconnectAttempts < -1 {
		return fieldError("max_reconnect_attempts", strconv.Itoa(c.MaxReconnectAttempts), allowedMaxReconnect)
	}
	if c.ReconnectTimeWait < 0 {
		return fieldError("reconnect_time_wait", c.ReconnectTimeWait.String(), "a duration >= 0")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"connection_timeout", c.ConnectionTimeout},
		{"drain_timeout", c.DrainTimeout},
		{"flush_timeout", c.FlushTimeout},
		{"ping_interval", c.PingInterval},
	} {
		if d.v <= 0 {
			return fieldError(d.key, d.v.String(), "a duration > 0")
		}
	}
	if c.MaxOutstandingPings < 1 {
		return fieldError("max_outstanding_pings", strconv.Itoa(c.MaxOutstandingPings), allowedMaxPings)
	}
	if strings.ContainsAny(c.ClientName, "\r\n\x00") {
		return fieldError("client_name", strconv.Quote(c.ClientName), "a name without control characters")
	}
	if ce := c.validateTLS(); ce != nil {
		return ce
	}
	return c.validateAuth()
}

// validateServer checks one server URL; the value shown is redacted (and
// built only for an error).
func validateServer(s string) *ConfigError {
	shown := func() string { return strconv.Quote(redactURL(s)) }
	u, err := url.Parse(s)
	if err != nil {
		ce := fieldError("servers", shown(),
			"a URL such as nats://host:4222 (percent-encode special characters in a user or password)")
		if !strings.Contains(s, "@") {
			ce.Err = err // the *url.Error quotes the whole URL: only without credentials
		}
		return ce
	}
	if !allowedSchemes[u.Scheme] {
		ce := fieldError("servers", shown(), "scheme nats://, tls://, ws:// or wss://")
		ce.Suggestion = schemeSuggestion(s)
		return ce
	}
	if u.Hostname() == "" {
		return fieldError("servers", shown(), "a URL with a host, e.g. nats://host:4222")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fieldError("servers", shown(), "a port between 1 and 65535")
		}
	}
	return nil
}

// schemeSuggestion proposes a NATS scheme for a URL whose scheme nats.go
// does not dial: "localhost:4222" becomes "nats://localhost:4222"; a
// foreign scheme such as http:// is named. A URL with user info is never
// echoed.
func schemeSuggestion(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		if strings.Contains(s, "@") || strings.ContainsAny(s, " \t\r\n") {
			return "add nats:// (or tls:// for TLS) in front of the host"
		}
		return fmt.Sprintf("did you mean %q?", "nats://"+s)
	}
	scheme := s[:i]
	if len(scheme) == 0 || len(scheme) > 16 {
		return ""
	}
	for j, r := range scheme {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (j == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return ""
		}
	}
	return "use nats:// (or tls:// for TLS) instead of " + scheme + "://"
}

func (c Config) validateTLS() *ConfigError {
	t := c.TLS
	if t.CertFile != "" && t.KeyFile == "" {
		return fieldError("tls.key_file", `""`,
			"a key file whenever tls.cert_file is set ("+displayPath(t.CertFile)+")", "tls.cert_file")
	}
	if t.KeyFile != "" && t.CertFile == "" {
		return fieldError("tls.cert_file", `""`,
			"a certificate file whenever tls.key_file is set ("+displayPath(t.KeyFile)+")", "tls.key_file")
	}
	hasFiles := t.CertFile != "" || t.CAFile != ""
	if hasFiles && !c.usesTLS() {
		blame := []string{"tls.enabled"}
		if t.CertFile != "" {
			blame = append(blame, "tls.cert_file", "tls.key_file")
		}
		if t.CAFile != "" {
			blame = append(blame, "tls.ca_file")
		}
		return fieldError("tls.enabled", "false",
			"true (or tls:// servers) when tls.cert_file/key_file/ca_file are set", blame...)
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			ce := fieldError("tls.ca_file", strconv.Quote(t.CAFile), "a readable PEM file of CA certificates")
			ce.Err = err
			return ce
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return fieldError("tls.ca_file", strconv.Quote(t.CAFile), "a PEM file with at least one CA certificate")
		}
	}
	if t.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			ce := fieldError("tls.cert_file", strconv.Quote(t.CertFile),
				"a readable PEM certificate matching tls.key_file", "tls.cert_file", "tls.key_file")
			ce.Err = err
			return ce
		}
	}
	return nil
}

func (c Config) validateAuth() *ConfigError {
	a := c.Auth
	var methods, keys []string
	if a.User != "" || a.Password != "" {
		methods = append(methods, "user/password")
		if a.User != "" {
			keys = append(keys, "auth.user")
		}
		if a.Password != "" {
			keys = append(keys, "auth.password")
		}
	}
	if a.Token != "" {
		methods, keys = append(methods, "token"), append(keys, "auth.token")
	}
	if a.NKeySeedFile != "" {
		methods, keys = append(methods, "nkey_seed_file"), append(keys, "auth.nkey_seed_file")
	}
	if a.CredsFile != "" {
		methods, keys = append(methods, "creds_file"), append(keys, "auth.creds_file")
	}
	if len(methods) > 1 {
		return fieldError("auth", strings.Join(methods, " + "),
			"at most one of user/password, token, nkey_seed_file, creds_file", keys...)
	}
	if a.User != "" && a.Password == "" {
		return fieldError("auth.password", `""`, "a password whenever auth.user is set", "auth.user")
	}
	if a.User == "" && a.Password != "" {
		return fieldError("auth.user", `""`, "a user whenever auth.password is set", "auth.password")
	}
	for _, f := range []struct{ key, path string }{
		{"auth.nkey_seed_file", a.NKeySeedFile},
		{"auth.creds_file", a.CredsFile},
	} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			ce := fieldError(f.key, strconv.Quote(f.path), "a readable file")
			ce.Err = err
			return ce
		}
		if len(strings.TrimSpace(string(b))) == 0 {
			return fieldError(f.key, strconv.Quote(f.path), "a non-empty file")
		}
	}
	return nil
}

// NATSOptions validates c and turns it into nats.go options: name,
// reconnects and their wait, connect/drain/flusher timeouts, pings, TLS
// (nats.Secure with TLS 1.2+, nats.RootCAs, nats.ClientCert) and auth
// (nats.UserInfo, nats.Token, nkey seed file, nats.UserCredentials). Pass
// strings.Join(c.Servers, ",") as the URL to nats.Connect.
func (c Config) NATSOptions() ([]nats.Option, error) {
	if ce := c.validate(); ce != nil {
		return nil, ce
	}
	opts := make([]nats.Option, 0, 16)
	if c.ClientName != "" {
		opts = append(opts, nats.Name(c.ClientName))
	}
	opts = append(opts,
		nats.MaxReconnects(c.MaxReconnectAttempts),
		nats.ReconnectWait(c.ReconnectTimeWait),
		nats.Timeout(c.ConnectionTimeout),
		nats.DrainTimeout(c.DrainTimeout),
		nats.FlusherTimeout(c.FlushTimeout),
		nats.PingInterval(c.PingInterval),
		nats.MaxPingsOutstanding(c.MaxOutstandingPings),
	)
	if c.usesTLS() {
		opts = append(opts, nats.Secure(&tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: c.TLS.InsecureSkipVerify, //nolint:gosec // opt-in, documented as test-only
		}))
		if c.TLS.CAFile != "" {
			opts = append(opts, nats.RootCAs(c.TLS.CAFile))
		}
		if c.TLS.CertFile != "" {
			opts = append(opts, nats.ClientCert(c.TLS.CertFile, c.TLS.KeyFile))
		}
	}
	a := c.Auth
	switch {
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password.Value()))
	case a.Token != "":
		opts = append(opts, nats.Token(a.Token.Value()))
	case a.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(a.NKeySeedFile)
		if err != nil {
			ce := fieldError("auth.nkey_seed_file", strconv.Quote(a.NKeySeedFile), "a file holding an nkey user seed (SU...)")
			ce.Err = err
			return nil, ce
		}
		opts = append(opts, o)
	case a.CredsFile != "":
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	return opts, nil
}

// url returns the nats.Connect URL list.
func (c Config) url() string { return strings.Join(c.Servers, ",") }
