package scope

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
//
// The file is decoded strictly and the result is validated. Every error is
// a [*ConfigError] that names where the bad value came from (the file and
// line, the environment variable, the option), the field as written in a
// config file (nats.max_reconnect_attempts, profiles.prod.tls.enabled), the
// value (secrets redacted), what is allowed and, for a misspelt key or
// profile, the nearest known one.
func Load(opts ...LoadOption) (Config, error) {
	return newOptions(opts).loadConfig("")
}

// loadConfig applies the layers; url (if non-empty) is an explicit server
// list applied before the explicit options.
func (o *options) loadConfig(url string) (Config, error) {
	cfg, org, err := o.baseConfig()
	if err != nil {
		return Config{}, err
	}
	if url != "" {
		cfg.Servers = splitList(url)
		org.set("servers", "argument url")
	}
	if len(o.edits) > 0 {
		cfg = o.applyEdits(cfg, &org)
	}
	if ce := cfg.validate(); ce != nil {
		return Config{}, org.explain(ce)
	}
	return cfg, nil
}

// Allowed values, shared by the file, the environment and validation.
const (
	allowedServers      = "a list of server URLs or one comma-separated string"
	allowedString       = "a string"
	allowedMaxReconnect = "an integer >= -1 (-1 = reconnect forever)"
	allowedMaxPings     = "an integer >= 1"
	allowedDuration     = `seconds (a number) or a Go duration string like "2s"`
	allowedBool         = "true or false"
	allowedEnvBool      = "true or false (1, 0, t, f, TRUE, FALSE)"
	allowedProfiles     = "a mapping of profile names to partial nats sections"
)

type valueKind uint8

const (
	kindServers valueKind = iota
	kindString
	kindSecret
	kindInt
	kindDuration
	kindBool
	kindSection
)

// fieldSpec describes one key of a section: its kind, what is allowed and
// its environment variable.
type fieldSpec struct {
	name    string
	kind    valueKind
	allowed string
	env     string
	sub     []fieldSpec // kindSection
}

var (
	tlsSpecs = []fieldSpec{
		{name: "enabled", kind: kindBool, allowed: allowedBool, env: EnvTLSEnabled},
		{name: "cert_file", kind: kindString, allowed: allowedString, env: EnvTLSCertFile},
		{name: "key_file", kind: kindString, allowed: allowedString, env: EnvTLSKeyFile},
		{name: "ca_file", kind: kindString, allowed: allowedString, env: EnvTLSCAFile},
		{name: "insecure_skip_verify", kind: kindBool, allowed: allowedBool, env: EnvTLSInsecureSkipVerify},
	}
	authSpecs = []fieldSpec{
		{name: "user", kind: kindString, allowed: allowedString, env: EnvAuthUser},
		{name: "password", kind: kindSecret, allowed: allowedString, env: EnvAuthPassword},
		{name: "token", kind: kindSecret, allowed: allowedString, env: EnvAuthToken},
		{name: "nkey_seed_file", kind: kindString, allowed: allowedString, env: EnvAuthNKeySeedFile},
		{name: "creds_file", kind: kindString, allowed: allowedString, env: EnvAuthCredsFile},
	}
	natsSpecs = []fieldSpec{
		{name: "servers", kind: kindServers, allowed: allowedServers, env: EnvNATSURL},
		{name: "client_name", kind: kindString, allowed: allowedString, env: EnvClientName},
		{name: "max_reconnect_attempts", kind: kindInt, allowed: allowedMaxReconnect, env: EnvMaxReconnect},
		{name: "reconnect_time_wait", kind: kindDuration, allowed: allowedDuration, env: EnvReconnectTimeWait},
		{name: "connection_timeout", kind: kindDuration, allowed: allowedDuration, env: EnvConnectionTimeout},
		{name: "drain_timeout", kind: kindDuration, allowed: allowedDuration, env: EnvDrainTimeout},
		{name: "flush_timeout", kind: kindDuration, allowed: allowedDuration, env: EnvFlushTimeout},
		{name: "ping_interval", kind: kindDuration, allowed: allowedDuration, env: EnvPingInterval},
		{name: "max_outstanding_pings", kind: kindInt, allowed: allowedMaxPings, env: EnvMaxOutstandingPings},
		{name: "tls", kind: kindSection, sub: tlsSpecs},
		{name: "auth", kind: kindSection, sub: authSpecs},
	}
	rootSpecs = []fieldSpec{{name: "nats", kind: kindSection}, {name: "profiles", kind: kindSection}}

	// leafSpecs are the value fields, keyed by their path under nats:
	// ("tls.enabled"), in document order.
	leafSpecs = flattenSpecs(natsSpecs, "", reflect.TypeFor[Config](), nil)
	// leafIndex maps a leaf's key to the index of its Config field.
	leafIndex = func() map[string][]int {
		m := make(map[string][]int, len(leafSpecs))
		for _, l := range leafSpecs {
			m[l.key] = l.index
		}
		return m
	}()
)

type leafSpec struct {
	key   string
	index []int // of the field in Config (reflect.Value.FieldByIndex)
	fieldSpec
}

// flattenSpecs lists the value fields of specs, a section whose fields are
// those of t (at index in Config), matched by their yaml tags.
func flattenSpecs(specs []fieldSpec, prefix string, t reflect.Type, index []int) []leafSpec {
	var out []leafSpec
	for _, s := range specs {
		f, ok := fieldByTag(t, s.name)
		if !ok {
			panic("scope: " + t.Name() + " has no field with yaml tag " + s.name)
		}
		idx := append(slices.Clone(index), f.Index...)
		if s.kind == kindSection {
			out = append(out, flattenSpecs(s.sub, prefix+s.name+".", f.Type, idx)...)
			continue
		}
		out = append(out, leafSpec{key: prefix + s.name, index: idx, fieldSpec: s})
	}
	return out
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag == name {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// field returns the field key (its path under nats:) of c.
func field(c *Config, key string) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(leafIndex[key])
}

// setField sets the field key of c to v, a value of the field's kind
// ([]string, string, int, time.Duration or bool; a string for a Secret).
func setField(c *Config, key string, v any) {
	f := field(c, key)
	if list, ok := v.([]string); ok {
		v = slices.Clone(list)
	}
	f.Set(reflect.ValueOf(v).Convert(f.Type()))
}

// sameField reports whether the field key holds the same value in a and b.
func sameField(a, b *Config, key string) bool {
	return reflect.DeepEqual(field(a, key).Interface(), field(b, key).Interface())
}

func specNames(specs []fieldSpec) string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

// origin is where a field's value came from.
type origin struct {
	source string   // "naq.yaml:4", "env NAQ_DRAIN_TIMEOUT", "option scope.WithDrainTimeout"
	path   string   // the field in the user's words: "nats.drain_timeout", "profiles.prod.drain_timeout"
	items  []string // servers: the source of each URL
}

// origins records where each field's value came from: byKey maps a
// field's path under nats: to its origin; a field missing from it came from
// every (the [WithConfig] base, which sets them all) or, when every is
// empty, has its default. Nothing is allocated until an option, the file or
// the environment sets a field, so loading a [WithConfig] base costs no map.
type origins struct {
	byKey map[string]origin
	every string
}

// set records source for the field key under nats:. The path in the
// user's words ("nats." + key) is built by explain, only when an error
// needs it.
func (o *origins) set(key, source string) { o.put(key, origin{source: source}) }

func (o *origins) put(key string, at origin) {
	if o.byKey == nil {
		o.byKey = make(map[string]origin, 4)
	}
	o.byKey[key] = at
}

// of returns the origin of the field key, if it has one.
func (o *origins) of(key string) (origin, bool) {
	if at, ok := o.byKey[key]; ok {
		return at, true
	}
	if _, leaf := leafIndex[key]; leaf && o.every != "" {
		return origin{source: o.every}, true
	}
	return origin{}, false
}

// explain names the field as the user wrote it and the source of the
// values that caused ce.
func (o *origins) explain(ce *ConfigError) *ConfigError {
	if at, ok := o.of(ce.key); ok {
		if at.path != "" {
			ce.Field = at.path
		} else {
			ce.Field = "nats." + ce.key
		}
	}
	blame := ce.blame
	if len(blame) == 0 {
		blame = []string{ce.key}
	}
	var sources []string
	for _, k := range blame {
		at, ok := o.of(k)
		if !ok {
			continue
		}
		src := at.source
		if k == ce.key && ce.item > 0 && ce.item <= len(at.items) {
			src = at.items[ce.item-1]
		}
		if !slices.Contains(sources, src) {
			sources = append(sources, src)
		}
	}
	ce.Source = strings.Join(sources, ", ")
	return ce
}

// applyEdits applies the explicit config options in order. It works on a
// copy of its own: the edits' funcs make it escape, and a load without
// edits then allocates none.
func (o *options) applyEdits(cfg Config, org *origins) Config {
	for _, e := range o.edits {
		e.apply(&cfg, org)
	}
	return cfg
}

func (o *options) baseConfig() (Config, origins, error) {
	var org origins
	if o.base != nil {
		org.every = "option " + nameWithConfig
		return o.base.Clone(), org, nil
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
	fileSrc := "env " + EnvConfig
	if o.file != nil {
		path, fileSrc = *o.file, "option "+nameWithConfigFile
	}
	profile, _ := get(EnvProfile)
	profileSrc := "env " + EnvProfile
	if o.profile != nil {
		profile, profileSrc = *o.profile, "option "+nameWithProfile
	}
	if path != "" {
		doc, ce := readConfigFile(path, fileSrc)
		if ce != nil {
			return Config{}, origins{}, ce
		}
		if doc.nats != nil {
			serversSet = doc.nats.overlay(&cfg, &org)
		}
		if profile != "" {
			p, ok := doc.profiles[profile]
			if !ok {
				names := make([]string, 0, len(doc.profiles))
				for k := range doc.profiles {
					names = append(names, k)
				}
				sort.Strings(names)
				ce := &ConfigError{Field: "profile", Value: strconv.Quote(profile), Source: profileSrc,
					Allowed: "a profile under profiles: in " + displayPath(path) + ": " + quoteAll(names)}
				if s := nearest(profile, names); s != "" {
					ce.Suggestion = fmt.Sprintf("did you mean %q?", s)
				}
				return Config{}, origins{}, ce
			}
			if p != nil {
				serversSet = p.overlay(&cfg, &org) || serversSet
			}
		}
	} else if profile != "" {
		hint := "name the config file with " + nameWithConfigFile + " or " + EnvConfig
		if o.profile == nil {
			hint = "set " + EnvConfig + " to the config file that defines the profile"
		}
		return Config{}, origins{}, &ConfigError{Field: "profile", Value: strconv.Quote(profile), Source: profileSrc,
			Err: errNoConfigFile, Allowed: "the name of a profile under profiles: in the config file", Suggestion: hint}
	}
	if ce := overlayEnv(&cfg, &org, get, serversSet); ce != nil {
		return Config{}, origins{}, ce
	}
	return cfg, org, nil
}

var (
	errNoConfigFile = errors.New("no config file is set")
	errUnknownKey   = errors.New("unknown key")
	errGotList      = errors.New("got a list")
	errGotMapping   = errors.New("got a mapping")
)

func quoteAll(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// apply runs an explicit config option on cfg and records it as the
// origin of the fields it sets; the fields of a WithConfigEdit are the
// ones it changed.
func (e edit) apply(cfg *Config, org *origins) {
	keys := e.keys
	var before Config
	if keys == nil {
		before = cfg.Clone()
	}
	e.fn(cfg)
	if e.keys == nil {
		for _, l := range leafSpecs {
			if !sameField(&before, cfg, l.key) {
				keys = append(keys, l.key)
			}
		}
	}
	for _, k := range keys {
		org.set(k, "option "+e.name)
	}
}

// section is a partial `nats:` section read from the file: the fields it
// sets, in document order, and where each came from.
type section struct {
	keys []string
	vals map[string]any
	at   map[string]origin
}

// overlay copies the set fields onto cfg and their origins into org; it
// reports whether servers was set.
func (s *section) overlay(cfg *Config, org *origins) bool {
	for _, k := range s.keys {
		setField(cfg, k, s.vals[k])
		org.put(k, s.at[k])
	}
	_, ok := s.vals["servers"]
	return ok
}

// configFile is a decoded config file: the base section and the profiles
// (a nil section is an empty profile).
type configFile struct {
	nats     *section
	profiles map[string]*section
}

func readConfigFile(path, source string) (*configFile, *ConfigError) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{Field: "config file", Value: strconv.Quote(path), Source: source,
			Allowed: "a readable YAML file", Err: err}
	}
	return parseConfig(displayPath(path), data)
}

// maxEntries bounds the mapping entries visited through merge keys and
// aliases, so that a small file cannot expand into a huge one.
const maxEntries = 10000

// parseConfig decodes the first YAML document of data strictly: unknown
// keys, duplicate keys and values of the wrong kind are errors naming file
// and line. A null value leaves a field unset.
func parseConfig(file string, data []byte) (*configFile, *ConfigError) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return &configFile{}, nil
		}
		return nil, syntaxError(file, data, err)
	}
	p := &fileParser{file: file, budget: maxEntries, merging: map[*yaml.Node]bool{}}
	return p.document(&root)
}

type fileParser struct {
	file    string
	budget  int
	merging map[*yaml.Node]bool // mappings being merged (a cycle guard)
}

// entry is one key of a mapping.
type entry struct {
	key  string
	k, v *yaml.Node
}

func (p *fileParser) at(n *yaml.Node) string { return p.file + ":" + strconv.Itoa(n.Line) }

func (p *fileParser) document(root *yaml.Node) (*configFile, *ConfigError) {
	doc := &configFile{}
	n := root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return doc, nil
		}
		n = n.Content[0]
	}
	n = resolve(n)
	if isNull(n) {
		return doc, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.wrongValue(n, "config file", false, "a mapping with keys "+specNames(rootSpecs))
	}
	entries, ce := p.entries(n, "")
	if ce != nil {
		return nil, ce
	}
	for _, e := range entries {
		switch e.key {
		case "nats":
			if doc.nats, ce = p.section(e.v, "nats"); ce != nil {
				return nil, ce
			}
		case "profiles":
			if doc.profiles, ce = p.profiles(e.v); ce != nil {
				return nil, ce
			}
		default:
			return nil, p.unknownKey(e, userKey(e.key), rootSpecs, levelRoot)
		}
	}
	return doc, nil
}

func (p *fileParser) profiles(n *yaml.Node) (map[string]*section, *ConfigError) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.wrongValue(n, "profiles", false, allowedProfiles)
	}
	entries, ce := p.entries(n, "profiles")
	if ce != nil {
		return nil, ce
	}
	out := make(map[string]*section, len(entries))
	for _, e := range entries {
		s, ce := p.section(e.v, "profiles."+userKey(e.key))
		if ce != nil {
			return nil, ce
		}
		out[e.key] = s
	}
	return out, nil
}

func (p *fileParser) section(n *yaml.Node, path string) (*section, *ConfigError) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil
	}
	s := &section{vals: map[string]any{}, at: map[string]origin{}}
	if ce := p.fields(n, path, "", natsSpecs, s); ce != nil {
		return nil, ce
	}
	return s, nil
}

// Levels of the file, for suggestions.
const (
	levelRoot = iota
	levelNATS
	levelSub // tls, auth
)

func (p *fileParser) fields(n *yaml.Node, path, prefix string, specs []fieldSpec, s *section) *ConfigError {
	if n.Kind != yaml.MappingNode {
		return p.wrongValue(n, path, false, "a mapping with keys "+specNames(specs))
	}
	entries, ce := p.entries(n, path)
	if ce != nil {
		return ce
	}
	level := levelNATS
	if prefix != "" {
		level = levelSub
	}
	for _, e := range entries {
		field := path + "." + userKey(e.key)
		i := slices.IndexFunc(specs, func(f fieldSpec) bool { return f.name == e.key })
		if i < 0 {
			return p.unknownKey(e, field, specs, level)
		}
		spec, key := specs[i], prefix+specs[i].name
		v := resolve(e.v)
		if isNull(v) {
			continue
		}
		if spec.kind == kindSection {
			if ce := p.fields(v, field, key+".", spec.sub, s); ce != nil {
				return ce
			}
			continue
		}
		val, items, ce := p.value(v, field, spec)
		if ce != nil {
			return ce
		}
		s.keys = append(s.keys, key)
		s.vals[key] = val
		s.at[key] = origin{source: p.at(v), path: field, items: items}
	}
	return nil
}

// value decodes a field's value (not null) by its kind.
func (p *fileParser) value(v *yaml.Node, field string, spec fieldSpec) (any, []string, *ConfigError) {
	bad := func() *ConfigError { return p.wrongValue(v, field, spec.kind == kindSecret, spec.allowed) }
	if spec.kind == kindServers {
		switch v.Kind {
		case yaml.ScalarNode:
			urls := splitList(v.Value)
			items := make([]string, len(urls))
			for i := range items {
				items[i] = p.at(v)
			}
			return urls, items, nil
		case yaml.SequenceNode:
			urls := make([]string, 0, len(v.Content))
			items := make([]string, 0, len(v.Content))
			for _, c := range v.Content {
				c = resolve(c)
				var u string
				if c.Kind != yaml.ScalarNode || (!isNull(c) && c.Decode(&u) != nil) {
					return nil, nil, p.wrongValue(c, field, false, "a server URL")
				}
				urls, items = append(urls, u), append(items, p.at(c))
			}
			return urls, items, nil
		}
		return nil, nil, bad()
	}
	if v.Kind != yaml.ScalarNode {
		return nil, nil, bad()
	}
	switch spec.kind {
	case kindString, kindSecret:
		var s string
		if err := v.Decode(&s); err != nil {
			return nil, nil, bad()
		}
		return s, nil, nil
	case kindInt:
		var i int
		if v.ShortTag() == "!!int" && v.Decode(&i) == nil {
			return i, nil, nil
		}
		ce := bad()
		if n, err := strconv.Atoi(strings.TrimSpace(v.Value)); err == nil && v.ShortTag() == "!!str" {
			ce.Suggestion = fmt.Sprintf("write %d without quotes", n)
		}
		return nil, nil, ce
	case kindDuration:
		d, err := parseDuration(v.Value)
		if err != nil {
			return nil, nil, bad()
		}
		return d, nil, nil
	case kindBool:
		var b bool
		if err := v.Decode(&b); err != nil {
			return nil, nil, bad()
		}
		return b, nil, nil
	}
	return nil, nil, bad()
}

// wrongValue reports a value of the wrong kind or form: a scalar is shown
// (redacted when secret), a list or mapping is named.
func (p *fileParser) wrongValue(n *yaml.Node, field string, secret bool, allowed string) *ConfigError {
	ce := &ConfigError{Field: field, Source: p.at(n), Allowed: allowed}
	switch {
	case n.Kind == yaml.SequenceNode:
		ce.Err = errGotList
	case n.Kind == yaml.MappingNode:
		ce.Err = errGotMapping
	case secret:
		ce.Value = Redacted
	default:
		ce.Value = quoteValue(n.Value)
	}
	return ce
}

func (p *fileParser) unknownKey(e entry, field string, specs []fieldSpec, level int) *ConfigError {
	ce := &ConfigError{Field: field, Source: p.at(e.k), Err: errUnknownKey, Allowed: specNames(specs)}
	if s := suggestKey(e.key, specs, level); s != "" {
		ce.Suggestion = fmt.Sprintf("did you mean %q?", s)
	}
	return ce
}

// entries lists the keys of mapping n: its own, then those merged in with
// `<<` that it does not set itself (an earlier merged mapping wins). A key
// set twice is an error.
func (p *fileParser) entries(n *yaml.Node, path string) ([]entry, *ConfigError) {
	var own, merged []entry
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		p.budget--
		if p.budget < 0 {
			return nil, &ConfigError{Field: fieldOrFile(path), Source: p.at(n),
				Err: errors.New("too many merged or aliased entries"), Allowed: "at most " + strconv.Itoa(maxEntries)}
		}
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, &ConfigError{Field: fieldOrFile(path), Source: p.at(k),
				Err: errors.New("a key that is not a plain word"), Allowed: "keys such as servers, client_name"}
		}
		if k.ShortTag() == "!!merge" {
			m, ce := p.merge(v, path)
			if ce != nil {
				return nil, ce
			}
			merged = append(merged, m...)
			continue
		}
		if line, dup := seen[k.Value]; dup {
			return nil, &ConfigError{Field: joinField(path, userKey(k.Value)), Source: p.at(k),
				Err: fmt.Errorf("already set on line %d", line)}
		}
		seen[k.Value] = k.Line
		own = append(own, entry{key: k.Value, k: k, v: v})
	}
	for _, e := range merged {
		if _, ok := seen[e.key]; !ok {
			seen[e.key] = e.k.Line
			own = append(own, e)
		}
	}
	return own, nil
}

func (p *fileParser) merge(v *yaml.Node, path string) ([]entry, *ConfigError) {
	v = resolve(v)
	bad := &ConfigError{Field: joinField(path, "<<"), Source: p.at(v), Allowed: "a mapping or a list of mappings to merge"}
	var maps []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		maps = []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, c := range v.Content {
			if c = resolve(c); c.Kind != yaml.MappingNode {
				return nil, bad
			}
			maps = append(maps, c)
		}
	default:
		return nil, bad
	}
	var out []entry
	have := map[string]bool{}
	for _, m := range maps {
		if p.merging[m] {
			bad.Err = errors.New("a mapping merges itself")
			return nil, bad
		}
		p.merging[m] = true
		es, ce := p.entries(m, path)
		delete(p.merging, m)
		if ce != nil {
			return nil, ce
		}
		for _, e := range es {
			if !have[e.key] {
				have[e.key] = true
				out = append(out, e)
			}
		}
	}
	return out, nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.AliasNode || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func joinField(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func fieldOrFile(path string) string {
	if path == "" {
		return "config file"
	}
	return path
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// userKey shows a key as part of a field path, quoted unless it is a plain
// word.
func userKey(k string) string {
	if plainKey.MatchString(k) {
		return k
	}
	return strconv.Quote(k)
}

// quoteValue quotes a value for a message, shortened to 64 characters.
func quoteValue(s string) string {
	if utf8.RuneCountInString(s) > 64 {
		r := []rune(s)
		s = string(r[:61]) + "..."
	}
	return strconv.Quote(s)
}

// displayPath is a file path as shown in messages (quoted when it holds
// control characters, so a message stays one line).
func displayPath(p string) string {
	if strings.ContainsFunc(p, unicode.IsControl) {
		return strconv.Quote(p)
	}
	return p
}

// suggestKey returns the known key nearest to key: the same key spelt with
// another case or '-' for '_', one under the wrong section (nats.servers
// at the top, tls.enabled under nats:), or a near miss by edit distance.
func suggestKey(key string, specs []fieldSpec, level int) string {
	same := make([]string, len(specs))
	for i, s := range specs {
		same[i] = s.name
	}
	var other []string
	switch level {
	case levelRoot:
		for _, l := range leafSpecs {
			other = append(other, "nats."+l.key)
		}
		other = append(other, "nats.tls", "nats.auth")
	case levelNATS:
		for _, l := range leafSpecs {
			if strings.Contains(l.key, ".") {
				other = append(other, l.key)
			}
		}
	}
	k := normKey(key)
	last := func(s string) string { return normKey(s[strings.LastIndexByte(s, '.')+1:]) }
	for _, c := range same {
		if normKey(c) == k {
			return c
		}
	}
	for _, c := range other {
		if last(c) == k {
			return c
		}
	}
	if s := nearest(key, same); s != "" {
		return s
	}
	for _, c := range same {
		if len(k) >= 5 && strings.HasPrefix(normKey(c), k) {
			return c
		}
	}
	return nearestBy(k, other, last)
}

// nearest returns the candidate within a small edit distance of s, or "".
func nearest(s string, candidates []string) string {
	return nearestBy(normKey(s), candidates, normKey)
}

// nearestBy returns the candidate c whose norm(c) is nearest to k, if it is
// within a small edit distance, or "".
func nearestBy(k string, candidates []string, norm func(string) string) string {
	best, bestD := "", math.MaxInt
	for _, c := range candidates {
		if d := editDistance(k, norm(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= maxDistance(k) {
		return best
	}
	return ""
}

func normKey(s string) string {
	return strings.ToLower(strings.NewReplacer("-", "_", " ", "_").Replace(s))
}

// maxDistance is the edit distance still taken for a typo: 1 up to 7
// characters, 2 up to 11, then 3.
func maxDistance(s string) int {
	return min(3, max(1, utf8.RuneCountInString(s)/4))
}

// editDistance is the optimal string alignment distance (insertions,
// deletions, substitutions and swaps of neighbours); inputs longer than 64
// runes are never near anything.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return math.MaxInt
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// yamlPrefix matches the "yaml: line N: " of a syntax error. The line yaml
// reports is the start of the enclosing construct (and 0-based for parser
// errors), so syntaxError finds the line itself.
var yamlPrefix = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// syntaxError reports a YAML syntax error at the line where the document
// stops being valid: the first line such that the text up to it fails with
// the same error. The field is the key path leading to that line, by
// indentation.
func syntaxError(file string, data []byte, err error) *ConfigError {
	msg := strings.Join(strings.Fields(yamlPrefix.ReplaceAllString(err.Error(), "")), " ")
	lines := strings.SplitAfter(string(data), "\n")
	if n := len(lines); n > 1 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	ends := make([]int, len(lines))
	off := 0
	for i, l := range lines {
		off += len(l)
		ends[i] = off
	}
	fails := func(k int) bool {
		var n yaml.Node
		err := yaml.NewDecoder(bytes.NewReader(data[:ends[k-1]])).Decode(&n)
		return err != nil && !errors.Is(err, io.EOF) &&
			strings.Join(strings.Fields(yamlPrefix.ReplaceAllString(err.Error(), "")), " ") == msg
	}
	line := 1
	if m := yamlPrefix.FindStringSubmatch(err.Error()); m != nil && m[1] != "" {
		line, _ = strconv.Atoi(m[1])
	}
	if len(lines) > 0 && fails(len(lines)) {
		lo, hi := 1, len(lines)
		for lo < hi {
			if mid := (lo + hi) / 2; fails(mid) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		line = lo
	}
	line = max(1, min(line, len(lines)))
	text := ""
	if line <= len(lines) {
		text = lines[line-1]
	}
	return &ConfigError{Field: fieldAtLine(lines, line), Source: file + ":" + strconv.Itoa(line),
		Err: errors.New("YAML syntax: " + msg), Suggestion: syntaxHint(msg, text)}
}

// keyAtLine matches a line that starts with a key (after list dashes).
var keyAtLine = regexp.MustCompile(`^[ \t]*(?:-[ \t]+)*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)[ \t]*:(?:[ \t]|$)`)

// fieldAtLine guesses the key path of a line from the keys of the less
// indented lines above it; "config file" when there is none.
func fieldAtLine(lines []string, line int) string {
	var path []string
	indent := -1
	for i := line - 1; i >= 0 && i < len(lines); i-- {
		l := strings.TrimRight(lines[i], "\r\n")
		t := strings.TrimLeft(l, " \t")
		if t == "" || t[0] == '#' {
			continue
		}
		ind := len(l) - len(t)
		if indent >= 0 && ind >= indent {
			continue
		}
		if m := keyAtLine.FindStringSubmatch(l); m != nil {
			path = append(path, userKey(strings.Trim(m[1], `"'`)))
		}
		indent = ind
		if ind == 0 {
			break
		}
	}
	if len(path) == 0 {
		return "config file"
	}
	slices.Reverse(path)
	return strings.Join(path, ".")
}

// syntaxHint suggests a fix for common YAML syntax errors.
func syntaxHint(msg, line string) string {
	lead := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
	switch {
	case strings.Contains(msg, "tab") || strings.Contains(lead, "\t"):
		return "indent with spaces: YAML does not allow tabs"
	case strings.Contains(msg, "expected ',' or ']'"):
		return "close the [ ] list or separate its items with ','"
	case strings.Contains(msg, "expected ',' or '}'"):
		return "close the { } mapping or separate its entries with ','"
	case strings.Contains(msg, "mapping values are not allowed"):
		return `quote a value that contains ": "`
	case strings.Contains(msg, "did not find expected key"):
		return "indent each key like the keys beside it"
	case strings.Contains(msg, "could not find expected ':'"):
		return "write each setting as key: value"
	case strings.Contains(msg, "unexpected end of stream"):
		return "close the quoted string"
	}
	return ""
}

// overlayEnv applies NAQ_* variables. NATS_URL sets servers only when
// nothing above the defaults did.
func overlayEnv(cfg *Config, org *origins, get func(string) (string, bool), serversSet bool) *ConfigError {
	if v, ok := get(EnvNATSURL); ok {
		cfg.Servers = splitList(v)
		org.set("servers", "env "+EnvNATSURL)
	} else if v, ok := get(EnvNATSURLFallback); ok && !serversSet {
		cfg.Servers = splitList(v)
		org.set("servers", "env "+EnvNATSURLFallback)
	}
	for _, l := range leafSpecs {
		if l.kind == kindServers {
			continue
		}
		v, ok := get(l.env)
		if !ok {
			continue
		}
		bad := &ConfigError{Field: "nats." + l.key, Value: quoteValue(v), Source: "env " + l.env, Allowed: l.allowed}
		var val any
		switch l.kind {
		case kindInt:
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return bad
			}
			val = n
		case kindDuration:
			d, err := parseDuration(v)
			if err != nil {
				return bad
			}
			val = d
		case kindBool:
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				bad.Allowed = allowedEnvBool
				return bad
			}
			val = b
		default:
			val = v
		}
		setField(cfg, l.key, val)
		org.set(l.key, "env "+l.env)
	}
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
