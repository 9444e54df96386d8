package scope

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load builds the effective [Config]:
//
//	DefaultConfig() < file `nats:` < file `profiles.<name>` < NAQ_* environment < explicit options
//
// The file is [WithConfigFile] or $NAQ_CONFIG (none: skip); the profile is
// [WithProfile] or $NAQ_PROFILE. Environment is read through [WithLookupEnv]
// (default os.LookupEnv). [WithConfig] replaces the first four layers with a
// given Config. Explicit options ([WithServers], [WithToken], ...) apply last.
// The result is validated; every error is a [*ConfigError].
func Load(opts ...Option) (Config, error) {
	return newOptions(opts).loadConfig("")
}

// loadConfig applies the layers; url (if non-empty) is an explicit server
// list applied before the explicit options.
func (o *options) loadConfig(url string) (Config, error) {
	cfg, err := o.baseConfig()
	if err != nil {
		return Config{}, err
	}
	if url != "" {
		cfg.Servers = splitList(url)
	}
	for _, edit := range o.edits {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func (o *options) baseConfig() (Config, error) {
	if o.base != nil {
		return o.base.Clone(), nil
	}
	lookup := o.lookup
	if !o.lookupSet {
		lookup = os.LookupEnv
	}
	get := func(name string) (string, bool) {
		if lookup == nil {
			return "", false
		}
		v, ok := lookup(name)
		if !ok || strings.TrimSpace(v) == "" {
			return "", false
		}
		return v, true
	}
	cfg := DefaultConfig()
	serversSet := false

	path, _ := get(EnvConfig)
	if o.file != nil {
		path = *o.file
	}
	profile, _ := get(EnvProfile)
	if o.profile != nil {
		profile = *o.profile
	}
	if path != "" {
		doc, err := readConfigFile(path)
		if err != nil {
			return Config{}, err
		}
		if doc.NATS != nil {
			serversSet = doc.NATS.overlay(&cfg) || serversSet
		}
		if profile != "" {
			p, ok := doc.Profiles[profile]
			if !ok {
				return Config{}, &ConfigError{Field: "profile", Value: strconv.Quote(profile),
					Source: "file " + path, Allowed: "one of the profiles defined in the file: " + profileNames(doc.Profiles)}
			}
			if p != nil {
				serversSet = p.overlay(&cfg) || serversSet
			}
		}
	} else if profile != "" {
		return Config{}, &ConfigError{Field: "profile", Value: strconv.Quote(profile),
			Allowed: "a profile defined under profiles: in a config file (set NAQ_CONFIG or WithConfigFile)"}
	}
	if err := overlayEnv(&cfg, get, serversSet); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func profileNames(m map[string]*natsSection) string {
	if len(m) == 0 {
		return "(none)"
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, strconv.Quote(k))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// fileDoc is the YAML file layout: a base `nats:` section and named
// partial overlays under `profiles:`.
type fileDoc struct {
	NATS     *natsSection            `yaml:"nats"`
	Profiles map[string]*natsSection `yaml:"profiles"`
}

// natsSection is a partial `nats:` section: nil fields are not set.
type natsSection struct {
	Servers              *serverList  `yaml:"servers"`
	ClientName           *string      `yaml:"client_name"`
	MaxReconnectAttempts *int         `yaml:"max_reconnect_attempts"`
	ReconnectTimeWait    *durationVal `yaml:"reconnect_time_wait"`
	ConnectionTimeout    *durationVal `yaml:"connection_timeout"`
	DrainTimeout         *durationVal `yaml:"drain_timeout"`
	FlushTimeout         *durationVal `yaml:"flush_timeout"`
	PingInterval         *durationVal `yaml:"ping_interval"`
	MaxOutstandingPings  *int         `yaml:"max_outstanding_pings"`
	TLS                  *tlsSection  `yaml:"tls"`
	Auth                 *authSection `yaml:"auth"`
}

type tlsSection struct {
	Enabled            *bool   `yaml:"enabled"`
	CertFile           *string `yaml:"cert_file"`
	KeyFile            *string `yaml:"key_file"`
	CAFile             *string `yaml:"ca_file"`
	InsecureSkipVerify *bool   `yaml:"insecure_skip_verify"`
}

type authSection struct {
	User         *string `yaml:"user"`
	Password     *string `yaml:"password"`
	Token        *string `yaml:"token"`
	NKeySeedFile *string `yaml:"nkey_seed_file"`
	CredsFile    *string `yaml:"creds_file"`
}

// overlay copies the set fields onto cfg; it reports whether servers was set.
func (s *natsSection) overlay(cfg *Config) bool {
	setStr := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setInt := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setDur := func(dst *time.Duration, v *durationVal) {
		if v != nil {
			*dst = time.Duration(*v)
		}
	}
	setBool := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	if s.Servers != nil {
		cfg.Servers = append([]string(nil), (*s.Servers)...)
	}
	setStr(&cfg.ClientName, s.ClientName)
	setInt(&cfg.MaxReconnectAttempts, s.MaxReconnectAttempts)
	setDur(&cfg.ReconnectTimeWait, s.ReconnectTimeWait)
	setDur(&cfg.ConnectionTimeout, s.ConnectionTimeout)
	setDur(&cfg.DrainTimeout, s.DrainTimeout)
	setDur(&cfg.FlushTimeout, s.FlushTimeout)
	setDur(&cfg.PingInterval, s.PingInterval)
	setInt(&cfg.MaxOutstandingPings, s.MaxOutstandingPings)
	if t := s.TLS; t != nil {
		setBool(&cfg.TLS.Enabled, t.Enabled)
		setStr(&cfg.TLS.CertFile, t.CertFile)
		setStr(&cfg.TLS.KeyFile, t.KeyFile)
		setStr(&cfg.TLS.CAFile, t.CAFile)
		setBool(&cfg.TLS.InsecureSkipVerify, t.InsecureSkipVerify)
	}
	if a := s.Auth; a != nil {
		setStr(&cfg.Auth.User, a.User)
		if a.Password != nil {
			cfg.Auth.Password = Secret(*a.Password)
		}
		if a.Token != nil {
			cfg.Auth.Token = Secret(*a.Token)
		}
		setStr(&cfg.Auth.NKeySeedFile, a.NKeySeedFile)
		setStr(&cfg.Auth.CredsFile, a.CredsFile)
	}
	return s.Servers != nil
}

// serverList accepts a YAML sequence of URLs or one comma-separated string.
type serverList []string

func (l *serverList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = splitList(n.Value)
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = s
		return nil
	}
	return fmt.Errorf("line %d: servers: want a list of URLs or a comma-separated string", n.Line)
}

// durationVal accepts a number of seconds (2, 2.5) or a Go duration string
// ("2s", "1m30s").
type durationVal time.Duration

func (d *durationVal) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want seconds (a number) or a Go duration string like \"2s\"", n.Line)
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = durationVal(v)
	return nil
}

// parseDuration reads seconds ("2", "2.5") or a Go duration ("2s").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want seconds (a number) or a Go duration string like \"2s\"", s)
	}
	return d, nil
}

func readConfigFile(path string) (*fileDoc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{Field: "config file", Value: strconv.Quote(path),
			Allowed: "a readable YAML file", Err: err}
	}
	doc, err := parseConfig(data)
	if err != nil {
		return nil, &ConfigError{Field: "config file", Value: strconv.Quote(path),
			Allowed: "YAML with top-level keys nats and profiles and the documented fields", Err: err}
	}
	return doc, nil
}

// parseConfig decodes strictly: unknown keys are errors with their line.
func parseConfig(data []byte) (*fileDoc, error) {
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return &doc, nil
}

// overlayEnv applies NAQ_* variables. NATS_URL sets servers only when
// nothing above the defaults did.
func overlayEnv(cfg *Config, get func(string) (string, bool), serversSet bool) error {
	if v, ok := get(EnvNATSURL); ok {
		cfg.Servers = splitList(v)
	} else if v, ok := get(EnvNATSURLFallback); ok && !serversSet {
		cfg.Servers = splitList(v)
	}
	if v, ok := get(EnvClientName); ok {
		cfg.ClientName = v
	}
	ints := []struct {
		env, field, allowed string
		dst                 *int
	}{
		{EnvMaxReconnect, "max_reconnect_attempts", "an integer >= -1 (-1 = reconnect forever)", &cfg.MaxReconnectAttempts},
		{EnvMaxOutstandingPings, "max_outstanding_pings", "an integer >= 1", &cfg.MaxOutstandingPings},
	}
	for _, i := range ints {
		if v, ok := get(i.env); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return &ConfigError{Field: i.field, Value: strconv.Quote(v), Source: "env " + i.env, Allowed: i.allowed}
			}
			*i.dst = n
		}
	}
	durs := []struct {
		env, field string
		dst        *time.Duration
	}{
		{EnvReconnectTimeWait, "reconnect_time_wait", &cfg.ReconnectTimeWait},
		{EnvConnectionTimeout, "connection_timeout", &cfg.ConnectionTimeout},
		{EnvDrainTimeout, "drain_timeout", &cfg.DrainTimeout},
		{EnvFlushTimeout, "flush_timeout", &cfg.FlushTimeout},
		{EnvPingInterval, "ping_interval", &cfg.PingInterval},
	}
	for _, d := range durs {
		if v, ok := get(d.env); ok {
			dur, err := parseDuration(v)
			if err != nil {
				return &ConfigError{Field: d.field, Value: strconv.Quote(v), Source: "env " + d.env,
					Allowed: "seconds (a number) or a Go duration string like \"2s\""}
			}
			*d.dst = dur
		}
	}
	bools := []struct {
		env, field string
		dst        *bool
	}{
		{EnvTLSEnabled, "tls.enabled", &cfg.TLS.Enabled},
		{EnvTLSInsecureSkipVerify, "tls.insecure_skip_verify", &cfg.TLS.InsecureSkipVerify},
	}
	for _, b := range bools {
		if v, ok := get(b.env); ok {
			x, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return &ConfigError{Field: b.field, Value: strconv.Quote(v), Source: "env " + b.env,
					Allowed: "true or false (1, 0, t, f, TRUE, FALSE)"}
			}
			*b.dst = x
		}
	}
	strs := []struct {
		env string
		dst *string
	}{
		{EnvTLSCertFile, &cfg.TLS.CertFile},
		{EnvTLSKeyFile, &cfg.TLS.KeyFile},
		{EnvTLSCAFile, &cfg.TLS.CAFile},
		{EnvAuthUser, &cfg.Auth.User},
		{EnvAuthNKeySeedFile, &cfg.Auth.NKeySeedFile},
		{EnvAuthCredsFile, &cfg.Auth.CredsFile},
	}
	for _, s := range strs {
		if v, ok := get(s.env); ok {
			*s.dst = v
		}
	}
	if v, ok := get(EnvAuthPassword); ok {
		cfg.Auth.Password = Secret(v)
	}
	if v, ok := get(EnvAuthToken); ok {
		cfg.Auth.Token = Secret(v)
	}
	return nil
}

// splitList splits a comma-separated list, trimming blanks and dropping
// empty entries.
func splitList(s string) []string {
	parts := strings.Split(s, ",")
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
