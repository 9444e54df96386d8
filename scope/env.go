package scope

import (
	"errors"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// CheckEnv reports the variables of environ (KEY=value entries, as
// os.Environ returns them) whose name starts with NAQ_ (in any case) but
// which [Load] does not read: most often a misspelt name, such as
// NAQ_MAX_RECONECT for NAQ_MAX_RECONNECT, that Load would otherwise ignore
// without a word. Load ignores them so that a program may use NAQ_ names
// of its own; call CheckEnv at startup to warn about them (log the error)
// or to refuse them (return it).
//
// It returns nil when there are none, else one [*ConfigError] per variable,
// sorted by name and joined with errors.Join (errors.Is [ErrInvalidConfig]
// holds; errors.As finds the first). Each names the variable as Field,
// "environment" as Source and the variables Load reads as Allowed, with
// the nearest of them as Suggestion when there is one:
//
//	scope: invalid config: NAQ_MAX_RECONECT (environment): unknown variable: allowed: NAQ_CONFIG, NAQ_PROFILE, ...; did you mean "NAQ_MAX_RECONNECT"?
//
// Values are never shown. An empty value counts as unset, as in Load.
func CheckEnv(environ []string) error {
	var errs []error
	seen := map[string]bool{}
	var names []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if seen[name] || !strings.HasPrefix(strings.ToUpper(name), "NAQ_") || strings.TrimSpace(value) == "" ||
			knownEnv(name) {
			continue
		}
		seen[name] = true
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ce := &ConfigError{Field: name, Source: "environment", Err: errUnknownVariable, Allowed: strings.Join(envNames, ", ")}
		if s := suggestEnv(name); s != "" {
			ce.Suggestion = "did you mean " + strconv.Quote(s) + "?"
		}
		errs = append(errs, ce)
	}
	return errors.Join(errs...)
}

var errUnknownVariable = errors.New("unknown variable")

// envNames are the NAQ_* variables Load reads, in the order of the docs.
var envNames = func() []string {
	names := []string{EnvConfig, EnvProfile}
	for _, l := range leafSpecs {
		names = append(names, l.env)
	}
	return names
}()

// envAliases maps names a user may reach for to the variable Load reads:
// the field's path as a name (NAQ_MAX_RECONNECT_ATTEMPTS, NAQ_SERVERS) and
// its last part (NAQ_TOKEN, NAQ_CA_FILE).
var envAliases = func() map[string]string {
	m := map[string]string{"NAQ_URL": EnvNATSURL, "NAQ_SERVER": EnvNATSURL, "NAQ_CONFIG_FILE": EnvConfig}
	for _, l := range leafSpecs {
		full := "NAQ_" + strings.ToUpper(strings.ReplaceAll(l.key, ".", "_"))
		last := "NAQ_" + strings.ToUpper(l.key[strings.LastIndexByte(l.key, '.')+1:])
		for _, a := range []string{full, last} {
			if _, taken := m[a]; !taken && a != l.env {
				m[a] = l.env
			}
		}
	}
	return m
}()

// knownEnv reports whether Load reads name (compared as the operating
// system compares variable names: without case on Windows).
func knownEnv(name string) bool {
	for _, n := range envNames {
		if n == name || (runtime.GOOS == "windows" && strings.EqualFold(n, name)) {
			return true
		}
	}
	return false
}

// suggestEnv returns the variable Load reads that name most likely meant,
// or "".
func suggestEnv(name string) string {
	upper := strings.ToUpper(name)
	for _, n := range envNames {
		if n == upper {
			return n // the right name in the wrong case
		}
	}
	if v, ok := envAliases[upper]; ok {
		return v
	}
	aliases := make([]string, 0, len(envAliases))
	for a := range envAliases {
		aliases = append(aliases, a)
	}
	sort.Strings(aliases) // between equally near names: the real ones, then aliases in order
	if s := nearest(name, append(append([]string(nil), envNames...), aliases...)); s != "" {
		if v, ok := envAliases[s]; ok {
			return v
		}
		return s
	}
	return ""
}
