package scope_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/naq-io/naq/scope"
)

// Marker secrets: long and random-looking, so they cannot show up in a
// loaded config's output by chance. The seed corpus puts them in password
// and token positions (YAML auth, NAQ_AUTH_*, server URL user info).
var fuzzSecretMarkers = []string{"s3cr3t-PW-9f2c7Qx", "t0k3n-TK-4e81bZv", "urlPW-k2J9vQ7mWs"}

// fuzzEnvNames classifies the variables the loader reads. NAQ_CONFIG is
// left out on purpose: the fuzz target always passes WithConfigFile, which
// overrides it.
var fuzzEnvNames = map[string]string{
	scope.EnvNATSURL: "servers", scope.EnvNATSURLFallback: "servers",
	scope.EnvAuthPassword: "secret", scope.EnvAuthToken: "secret",
	scope.EnvProfile: "public", scope.EnvClientName: "public", scope.EnvMaxReconnect: "public",
	scope.EnvReconnectTimeWait: "public", scope.EnvConnectionTimeout: "public",
	scope.EnvDrainTimeout: "public", scope.EnvFlushTimeout: "public", scope.EnvPingInterval: "public",
	scope.EnvMaxOutstandingPings: "public", scope.EnvTLSEnabled: "public", scope.EnvTLSCertFile: "public",
	scope.EnvTLSKeyFile: "public", scope.EnvTLSCAFile: "public", scope.EnvTLSInsecureSkipVerify: "public",
	scope.EnvAuthUser: "public", scope.EnvAuthNKeySeedFile: "public", scope.EnvAuthCredsFile: "public",
}

// parseFuzzEnv reads "NAME=value" lines; a value that is a Go-quoted string
// is unquoted, so values can hold newlines and control characters. A later
// line wins.
func parseFuzzEnv(raw string) map[string]string {
	m := map[string]string{}
	for line := range strings.SplitSeq(raw, "\n") {
		name, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		m[name] = v
	}
	return m
}

// inputStrings sorts every string of the input into public ones (printable
// by the loader: values, keys, user names) and secret ones (passwords,
// tokens, URL passwords and bare URL user info).
type inputStrings struct {
	public, secret []string
}

func (s *inputStrings) server(v string) {
	for _, u := range strings.Split(v, ",") {
		pub, sec := splitUserInfo(strings.TrimSpace(u))
		s.public = append(s.public, pub)
		s.secret = append(s.secret, sec...)
	}
}

// splitUserInfo takes the secret part out of a server URL. When net/url
// finds user info, the secret is its password, or the whole of a bare
// "token@" (the user name of "user:password@" is printed). When it cannot
// (the URL does not parse, or an '@' sits in an opaque, schemeless part such
// as "user:pw@host"), nobody can tell where credentials end, so everything
// from after the scheme to the last '@' counts as secret.
func splitUserInfo(s string) (public string, secret []string) {
	if u, err := url.Parse(s); err == nil {
		if u.User == nil && !strings.Contains(u.Opaque, "@") {
			return s, nil
		}
		if u.User != nil {
			// Mirror net/url: the authority ends at the first '/', '?' or
			// '#' after "//"; user info ends at its last '@'.
			_, rest, _ := strings.Cut(s, "//")
			start := len(s) - len(rest)
			if i := strings.IndexAny(rest, "/?#"); i >= 0 {
				rest = rest[:i]
			}
			at := start + strings.LastIndex(rest, "@")
			raw := s[start:at]
			if pw, ok := u.User.Password(); ok {
				_, rawPW, _ := strings.Cut(raw, ":")
				return s[:start] + u.User.Username() + ":" + s[at:], []string{pw, rawPW}
			}
			return s[:start] + s[at:], []string{u.User.Username(), raw}
		}
	}
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s, nil
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		start = i + 3
	}
	return s[:start] + s[at:], []string{s[start:at]}
}

// yamlStrings walks the first document of data the way the loader decodes
// it. ok is false when data is not YAML (nothing can be classified).
func yamlStrings(data []byte, s *inputStrings) (ok bool) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return false
	}
	// Classification depends on the last two keys of the path only, so a
	// node is walked once per such pair (an alias bomb stays linear).
	type visit struct {
		n            *yaml.Node
		parent, last string
	}
	seen := map[visit]bool{}
	var walk func(n *yaml.Node, path []string, depth int)
	walk = func(n *yaml.Node, path []string, depth int) {
		if n == nil || depth > 10000 {
			return
		}
		v := visit{n: n}
		if len(path) > 0 {
			v.last = path[len(path)-1]
		}
		if len(path) > 1 {
			v.parent = path[len(path)-2]
		}
		if seen[v] {
			return
		}
		seen[v] = true
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path, depth+1)
			}
		case yaml.AliasNode:
			walk(n.Alias, path, depth+1)
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				s.public = append(s.public, k.Value)
				if k.Value == "<<" { // a merge key keeps the level
					walk(v, path, depth+1)
					continue
				}
				walk(v, append(path[:len(path):len(path)], k.Value), depth+1)
			}
		case yaml.ScalarNode:
			vals := []string{n.Value}
			if n.ShortTag() == "!!binary" {
				if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), "")); err == nil {
					vals = append(vals, string(b))
				}
			}
			last := ""
			if len(path) > 0 {
				last = path[len(path)-1]
			}
			parent := ""
			if len(path) > 1 {
				parent = path[len(path)-2]
			}
			for _, v := range vals {
				switch {
				case parent == "auth" && (last == "password" || last == "token"):
					s.secret = append(s.secret, v)
				case last == "servers":
					s.server(v)
				default:
					s.public = append(s.public, v)
				}
			}
		}
	}
	walk(&doc, nil, 0)
	return true
}

// guardedMarkers are the markers that appear in some secret input and in no
// public one: the loader must never print them.
func guardedMarkers(s inputStrings) []string {
	var out []string
	for _, m := range fuzzSecretMarkers {
		inSecret, inPublic := false, false
		for _, v := range s.secret {
			inSecret = inSecret || strings.Contains(v, m)
		}
		for _, v := range s.public {
			inPublic = inPublic || strings.Contains(v, m)
		}
		if inSecret && !inPublic {
			out = append(out, m)
		}
	}
	return out
}

// touchesSpecialFiles reports whether the input could make Validate read a
// device or kernel file (tls.ca_file: /dev/zero never ends). Those inputs
// are skipped: they test the host, not the loader.
func touchesSpecialFiles(s inputStrings, raw ...string) bool {
	for _, v := range slices.Concat(s.public, s.secret, raw) {
		for _, w := range []string{"dev", "proc", "sys", "fd"} {
			if strings.Contains(v, w) {
				return true
			}
		}
	}
	return false
}

// FuzzLoadConfig loads arbitrary YAML (as the config file) and arbitrary
// NAQ_* values (through WithLookupEnv, never the process environment).
// Invariants (from load.go, config.go and errors.go): Load never panics; it
// returns either a Config that passes Validate or a *ConfigError (errors.Is
// ErrInvalidConfig) that names a field and has a message; it is
// deterministic; and no password, token or URL password of the input is
// printed, neither by the loaded Config (String, every fmt verb, YAML, JSON)
// nor by the error.
func FuzzLoadConfig(f *testing.F) {
	// One file per process, rewritten by every input: inputs run one after
	// the other in a fuzz worker (no t.Parallel), and a directory per input
	// would cost more than the load.
	cfgPath := filepath.Join(f.TempDir(), "naq.yaml")
	f.Fuzz(func(t *testing.T, file []byte, profile, rawEnv string) {
		envVals := parseFuzzEnv(rawEnv)
		var in inputStrings
		yamlOK := true
		if len(file) > 0 {
			yamlOK = yamlStrings(file, &in)
		}
		for name, v := range envVals {
			switch fuzzEnvNames[name] {
			case "servers":
				in.server(v)
			case "secret":
				in.secret = append(in.secret, v)
			case "public":
				in.public = append(in.public, v)
			}
		}
		in.public = append(in.public, profile)
		if touchesSpecialFiles(in, string(file), rawEnv) {
			t.Skip("input names a device or kernel file")
		}

		path := "" // no file
		if len(file) > 0 {
			path = cfgPath
			if err := os.WriteFile(path, file, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		load := func() (scope.Config, error) {
			opts := []scope.LoadOption{
				scope.WithConfigFile(path),
				scope.WithLookupEnv(func(name string) (string, bool) {
					v, ok := envVals[name]
					return v, ok
				}),
			}
			if profile != "" {
				opts = append(opts, scope.WithProfile(profile))
			}
			return scope.Load(opts...)
		}
		cfg, err := load()
		cfg2, err2 := load()
		if fmt.Sprint(err) != fmt.Sprint(err2) || !reflect.DeepEqual(cfg, cfg2) {
			t.Fatalf("Load is not deterministic: (%v, %v) then (%v, %v)", cfg, err, cfg2, err2)
		}

		guarded := guardedMarkers(in)
		if err != nil {
			if !reflect.DeepEqual(cfg, scope.Config{}) {
				t.Fatalf("Load returned %v with error %v, want the zero Config", cfg, err)
			}
			var ce *scope.ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, scope.ErrInvalidConfig) {
				t.Fatalf("Load error %T %q is not a *scope.ConfigError", err, err)
			}
			if err.Error() == "" || ce.Field == "" {
				t.Fatalf("Load error %#v has an empty message or field", ce)
			}
			if !yamlOK {
				return // could not tell public from secret input
			}
			for _, m := range guarded {
				for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", ce)} {
					if strings.Contains(out, m) {
						t.Fatalf("Load error leaks secret %q: %s", m, out)
					}
				}
			}
			return
		}
		if verr := cfg.Validate(); verr != nil {
			t.Fatalf("Load returned a config that fails Validate: %v", verr)
		}
		y, yerr := cfg.YAML()
		j, jerr := json.Marshal(cfg)
		if yerr != nil || jerr != nil {
			t.Fatalf("rendering a loaded config failed: yaml %v, json %v", yerr, jerr)
		}
		ym, yerr := yaml.Marshal(cfg)
		if yerr != nil {
			t.Fatalf("yaml.Marshal of a loaded config: %v", yerr)
		}
		outputs := []string{
			cfg.String(), cfg.GoString(), cfg.Auth.String(), cfg.Redacted().String(),
			fmt.Sprint(cfg), fmt.Sprintf("%v|%+v|%#v|%s|%q", cfg, cfg, cfg, cfg, cfg),
			fmt.Sprintf("%+v|%#v", &cfg, cfg.Auth), string(y), string(j), string(ym),
		}
		for _, m := range guarded {
			for _, out := range outputs {
				if strings.Contains(out, m) {
					t.Fatalf("loaded config prints secret %q: %s", m, out)
				}
			}
		}
	})
}
