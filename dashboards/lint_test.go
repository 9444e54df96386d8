package dashboards_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// ---- files -------------------------------------------------------------

type dashboardFile struct {
	path string
	raw  map[string]any
}

func loadDashboards(t *testing.T) []dashboardFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("grafana", "dashboards", "*.json"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(paths), 2, "want the overview and the drill-down dashboards")
	var out []dashboardFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		var raw map[string]any
		require.NoError(t, json.Unmarshal(b, &raw), "%s is not valid JSON", p)
		out = append(out, dashboardFile{path: p, raw: raw})
	}
	return out
}

// panelsOf returns every panel of a dashboard, rows and the panels nested in
// collapsed rows included.
func panelsOf(d map[string]any) []map[string]any {
	var out []map[string]any
	var walk func(v any)
	walk = func(v any) {
		list, _ := v.([]any)
		for _, p := range list {
			pm, ok := p.(map[string]any)
			if !ok {
				continue
			}
			out = append(out, pm)
			walk(pm["panels"])
		}
	}
	walk(d["panels"])
	return out
}

func variablesOf(d map[string]any) []map[string]any {
	tmpl, _ := d["templating"].(map[string]any)
	list, _ := tmpl["list"].([]any)
	var out []map[string]any
	for _, v := range list {
		if vm, ok := v.(map[string]any); ok {
			out = append(out, vm)
		}
	}
	return out
}

func dsUID(v any) (uid, typ string) {
	m, _ := v.(map[string]any)
	uid, _ = m["uid"].(string)
	typ, _ = m["type"].(string)
	return uid, typ
}

// panelQuery is one Prometheus query of a dashboard panel.
type panelQuery struct {
	dashboard, panel, refID, expr string
	heatmap                       bool
}

// promQueries returns every Prometheus query of every dashboard panel.
func promQueries(t *testing.T) []panelQuery {
	t.Helper()
	var out []panelQuery
	for _, d := range loadDashboards(t) {
		for _, p := range panelsOf(d.raw) {
			targets, _ := p["targets"].([]any)
			for _, tg := range targets {
				tm := tg.(map[string]any)
				if _, typ := dsUID(tm["datasource"]); typ != "prometheus" {
					continue
				}
				expr, _ := tm["expr"].(string)
				ref, _ := tm["refId"].(string)
				title, _ := p["title"].(string)
				format, _ := tm["format"].(string)
				out = append(out, panelQuery{
					dashboard: filepath.Base(d.path), panel: title, refID: ref,
					expr: expr, heatmap: format == "heatmap",
				})
			}
		}
	}
	return out
}

type provisionedDS struct {
	Name string `yaml:"name"`
	UID  string `yaml:"uid"`
	Type string `yaml:"type"`
	URL  string `yaml:"url"`
}

func loadDatasources(t *testing.T) map[string]provisionedDS {
	t.Helper()
	var f struct {
		APIVersion  int             `yaml:"apiVersion"`
		Datasources []provisionedDS `yaml:"datasources"`
	}
	readYAML(t, filepath.Join("grafana", "provisioning", "datasources", "datasources.yaml"), &f)
	out := map[string]provisionedDS{}
	for _, ds := range f.Datasources {
		require.NotEmpty(t, ds.UID, "datasource %q has no uid", ds.Name)
		out[ds.UID] = ds
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(false)
	require.NoError(t, dec.Decode(v), "%s", path)
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	var rf ruleFile
	readYAML(t, filepath.Join("prometheus", "alerts.yml"), &rf)
	require.NotEmpty(t, rf.Groups)
	return rf
}

// ---- PromQL scanning ----------------------------------------------------

// selectorRef is a metric name used as a vector selector in an expression.
type selectorRef struct {
	name      string
	ranged    bool   // followed by a range [..]
	enclosing string // the function whose argument list contains it
}

var promKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
	"group_right": true, "bool": true, "offset": true, "and": true, "or": true,
	"unless": true, "inf": true, "nan": true, "atan2": true,
}

// labelListKeywords are followed by a parenthesised list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// skipString returns the index after the string literal starting at s[i].
func skipString(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		if s[j] == '\\' && q != '`' {
			j++
			continue
		}
		if s[j] == q {
			return j + 1
		}
	}
	return len(s)
}

// skipTo returns the index after the closing bracket matching s[i],
// skipping string literals.
func skipTo(s string, i int, open, close byte) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"' || c == '\'' || c == '`':
			j = skipString(s, j) - 1
		case c == open:
			depth++
		case c == close:
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(s)
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// selectors returns the metric names an expression selects, with whether
// each one is under a range and inside which function. It understands
// enough PromQL for naq's dashboards and rules: strings, label matchers,
// ranges, label lists of by/without/on/ignoring/group_*, Grafana variables,
// numbers and durations.
func selectors(expr string) ([]selectorRef, error) {
	var out []selectorRef
	var stack []string // enclosing call names ("" for plain parentheses)
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(s, i)
		case c == '{':
			i = skipTo(s, i, '{', '}')
		case c == '[':
			i = skipTo(s, i, '[', ']')
		case c == '(':
			stack = append(stack, "")
			i++
		case c == ')':
			if len(stack) == 0 {
				return nil, fmt.Errorf("unbalanced ) at %d", i)
			}
			stack = stack[:len(stack)-1]
			i++
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				i = skipTo(s, i, '{', '}')
				continue
			}
			for i < len(s) && isIdent(s[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			k := skipSpace(s, j)
			// An aggregation may put its by/without clause before its
			// argument list: sum by (a) (x).
			if !labelListKeywords[strings.ToLower(word)] {
				for _, kw := range []string{"by", "without"} {
					if rest := s[k:]; len(rest) > len(kw) && strings.EqualFold(rest[:len(kw)], kw) && !isIdent(rest[len(kw)]) {
						if p := skipSpace(s, k+len(kw)); p < len(s) && s[p] == '(' {
							k = skipSpace(s, skipTo(s, p, '(', ')'))
						}
					}
				}
			}
			switch {
			case labelListKeywords[strings.ToLower(word)]:
				if k < len(s) && s[k] == '(' {
					j = skipTo(s, k, '(', ')')
				}
			case k < len(s) && s[k] == '(':
				stack = append(stack, word)
				j = k + 1
			case promKeywords[strings.ToLower(word)]:
			default:
				ref := selectorRef{name: word}
				if len(stack) > 0 {
					ref.enclosing = stack[len(stack)-1]
				}
				if k < len(s) && s[k] == '{' {
					k = skipSpace(s, skipTo(s, k, '{', '}'))
				}
				ref.ranged = k < len(s) && s[k] == '['
				out = append(out, ref)
			}
			i = j
		default:
			i++
		}
	}
	if len(stack) != 0 {
		return nil, fmt.Errorf("unbalanced ( in %q", expr)
	}
	return out, nil
}

func TestSelectorsScanner(t *testing.T) {
	refs, err := selectors(`histogram_quantile(0.99, sum by (le, job) (rate(a_bucket{x=~"kv\\..*", y="$job"}[$__rate_interval])))
		/ on (job) group_left (z) max(b_gauge{c="}"}) > 1e-9 and increase(c_total[5m]) offset 1h or vector(0) * d`)
	require.NoError(t, err)
	require.Equal(t, []selectorRef{
		{name: "a_bucket", ranged: true, enclosing: "rate"},
		{name: "b_gauge", enclosing: "max"},
		{name: "c_total", ranged: true, enclosing: "increase"},
		{name: "d"},
	}, refs)
}

// exprProblems returns every metric an expression uses that is not in the
// names table and, when the expression reads values (not a label_values
// series match), every counter read other than through rate/increase.
func exprProblems(ps promSeries, expr string, readsValues bool) []string {
	refs, err := selectors(expr)
	if err != nil {
		return []string{err.Error()}
	}
	if len(refs) == 0 {
		return []string{fmt.Sprintf("expression selects no metric: %q", expr)}
	}
	var out []string
	for _, r := range refs {
		isCounter, known := ps.names[r.name]
		if !known {
			out = append(out, fmt.Sprintf("metric %q is not in the names table (internal/semconv as exported to Prometheus)", r.name))
			continue
		}
		if readsValues && isCounter && !(r.ranged && (r.enclosing == "rate" || r.enclosing == "increase" || r.enclosing == "irate")) {
			out = append(out, fmt.Sprintf("counter %q must only be read through rate() or increase()", r.name))
		}
	}
	return out
}

func checkExpr(t *testing.T, where, expr string, readsValues bool) {
	t.Helper()
	for _, p := range exprProblems(promNames(t), expr, readsValues) {
		t.Errorf("%s: %s", where, p)
	}
}

// TestExprProblems: the lint catches unknown names and raw counters.
func TestExprProblems(t *testing.T) {
	ps := promNames(t)
	for expr, want := range map[string]int{
		`sum(rate(messaging_client_sent_messages_total[5m]))`:                    0,
		`increase(nats_client_reconnects_total{job="a"}[10m]) > 5`:               0,
		`max(nats_client_connected) == 0`:                                        0,
		`nats_client_reconnects_total > 0`:                                       1, // raw counter
		`sum(messaging_client_operation_duration_seconds_count)`:                 1, // raw counter
		`max_over_time(nats_client_reconnects_total[5m])`:                        1, // counter outside rate
		`rate(nats_client_reconnects[5m])`:                                       1, // not a table name
		`histogram_quantile(0.9, rate(messaging_operation_duration_bucket[1m]))`: 1,
	} {
		assert(t, len(exprProblems(ps, expr, true)) == want, "%s: want %d problems, got %v", expr, want, exprProblems(ps, expr, true))
	}
	assert(t, len(exprProblems(ps, `messaging_client_sent_messages_total{job="a"}`, false)) == 0, "label_values may match counters")
}

// ---- tests --------------------------------------------------------------

var templateVar = regexp.MustCompile(`\$(\{)?(\w+)`)

func TestDashboardsLint(t *testing.T) {
	sources := loadDatasources(t)
	require.Contains(t, sources, "prometheus")
	require.Equal(t, "prometheus", sources["prometheus"].Type)
	require.Contains(t, sources, "jaeger")
	require.Equal(t, "jaeger", sources["jaeger"].Type)

	// dsVars maps a dashboard's datasource variables to their plugin type;
	// a reference ${name} is checked against that type.
	var dsVars map[string]string
	checkDS := func(where string, v any) {
		uid, typ := dsUID(v)
		if m := regexp.MustCompile(`^\$\{?(\w+)\}?$`).FindStringSubmatch(uid); m != nil {
			plugin, ok := dsVars[m[1]]
			if !ok {
				t.Errorf("%s: datasource %q is not a datasource variable of the dashboard", where, uid)
			} else if plugin != typ {
				t.Errorf("%s: datasource %q has type %q, the variable selects %q", where, uid, typ, plugin)
			}
			return
		}
		ds, ok := sources[uid]
		if !ok {
			t.Errorf("%s: datasource uid %q is not provisioned", where, uid)
			return
		}
		if typ != ds.Type {
			t.Errorf("%s: datasource %q has type %q, provisioned as %q", where, uid, typ, ds.Type)
		}
	}

	uids := map[string]string{}
	for _, d := range loadDashboards(t) {
		name := filepath.Base(d.path)
		t.Run(name, func(t *testing.T) {
			uid, _ := d.raw["uid"].(string)
			require.NotEmpty(t, uid, "dashboard uid")
			require.NotContains(t, uids, uid, "dashboard uid %q also used by %s", uid, uids[uid])
			uids[uid] = name
			require.NotEmpty(t, d.raw["title"])

			vars := map[string]bool{}
			dsVars = map[string]string{}
			for _, v := range variablesOf(d.raw) {
				vname, _ := v["name"].(string)
				vars[vname] = true
				if v["type"] == "datasource" {
					// A datasource variable selects among the provisioned data
					// sources of one plugin type.
					plugin, _ := v["query"].(string)
					found := false
					for _, ds := range sources {
						found = found || ds.Type == plugin
					}
					assert(t, found, "variable %s selects %q data sources; none is provisioned", vname, plugin)
					dsVars[vname] = plugin
					continue
				}
				checkDS(name+" variable "+vname, v["datasource"])
				if def, _ := v["definition"].(string); def != "" {
					m := regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`).FindStringSubmatch(def)
					if assert(t, m != nil, "variable %s: want label_values(selector, label), got %q", vname, def); m != nil {
						checkExpr(t, name+" variable "+vname, m[1], false)
					}
				}
			}
			for _, want := range []string{"job", "connection"} {
				assert(t, vars[want], "dashboard lacks the %q template variable", want)
			}

			checkLayout(t, panelsOf(d.raw))
			ids := map[float64]string{}
			nQueries := 0
			for _, p := range panelsOf(d.raw) {
				title, _ := p["title"].(string)
				id, ok := p["id"].(float64)
				if !assert(t, ok, "panel %q has no numeric id", title) {
					continue
				}
				if prev, dup := ids[id]; dup {
					t.Errorf("panel id %v used by %q and %q", id, prev, title)
				}
				ids[id] = title
				assert(t, p["gridPos"] != nil, "panel %q has no gridPos", title)
				if p["type"] == "row" {
					continue
				}
				if p["type"] == "text" {
					// Documentation (TestTraceLinksDocumented): no queries.
					assert(t, p["targets"] == nil, "text panel %q has queries", title)
					continue
				}
				where := fmt.Sprintf("%s panel %d %q", name, int(id), title)
				checkDS(where, p["datasource"])
				targets, _ := p["targets"].([]any)
				assert(t, len(targets) > 0, "%s has no queries", where)
				refs := map[string]bool{}
				for _, tg := range targets {
					tm := tg.(map[string]any)
					checkDS(where, tm["datasource"])
					ref, _ := tm["refId"].(string)
					assert(t, ref != "" && !refs[ref], "%s: missing or duplicate refId %q", where, ref)
					refs[ref] = true
					if _, typ := dsUID(tm["datasource"]); typ != "prometheus" {
						continue
					}
					expr, _ := tm["expr"].(string)
					nQueries++
					checkExpr(t, where+" "+ref, expr, true)
					for _, m := range templateVar.FindAllStringSubmatch(expr, -1) {
						v := m[2]
						assert(t, vars[v] || strings.HasPrefix(v, "__"), "%s: unknown template variable $%s", where, v)
					}
				}
			}
			assert(t, nQueries >= 15, "only %d Prometheus queries", nQueries)
		})
	}
}

// checkLayout: every panel fits the 24-column grid and no two panels
// overlap.
func checkLayout(t *testing.T, panels []map[string]any) {
	t.Helper()
	type rect struct {
		title      string
		x, y, w, h float64
	}
	var rects []rect
	for _, p := range panels {
		gp, _ := p["gridPos"].(map[string]any)
		num := func(k string) float64 { v, _ := gp[k].(float64); return v }
		r := rect{fmt.Sprint(p["title"]), num("x"), num("y"), num("w"), num("h")}
		assert(t, r.w > 0 && r.h > 0 && r.x >= 0 && r.x+r.w <= 24, "panel %q: gridPos %v does not fit the grid", r.title, gp)
		for _, o := range rects {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				t.Errorf("panels %q and %q overlap", r.title, o.title)
			}
		}
		rects = append(rects, r)
	}
}

// TestOverviewCoverage: the overview shows what issues 6 and 12 list.
func TestOverviewCoverage(t *testing.T) {
	var all strings.Builder
	types := map[string]bool{}
	for _, d := range loadDashboards(t) {
		if d.raw["uid"] != "naq-overview" {
			continue
		}
		for _, p := range panelsOf(d.raw) {
			types[fmt.Sprint(p["type"])] = true
		}
		for _, q := range promQueries(t) {
			if q.dashboard == filepath.Base(d.path) {
				all.WriteString(q.expr + "\n")
			}
		}
		vars := map[string]bool{}
		for _, v := range variablesOf(d.raw) {
			vars[fmt.Sprint(v["name"])] = true
		}
		assert(t, vars["job"] && vars["connection"] && vars["operation"], "overview variables: %v", vars)
	}
	text := all.String()
	for _, want := range []string{
		"messaging_client_operation_duration_seconds_count", "messaging_client_operation_duration_seconds_bucket",
		`error_type!=""`, "messaging_destination_name", "messaging_process_duration_seconds_bucket",
		"messaging_client_sent_messages_total", "messaging_client_consumed_messages_total",
		`kv\\..*`, "nats_client_connected", "nats_client_rtt_seconds", "nats_client_reconnects_total",
		"nats_client_disconnects_total", "nats_client_circuit_state", "nats_client_circuit_transitions_total",
		"nats_client_circuit_rejected_total", "nats_client_subscription_pending",
		"nats_client_subscription_dropped_total",
		// Consumers (issue 12): lag, pending, redeliveries, settle
		// outcomes, slow consumers.
		"nats_client_consumer_lag_seconds_bucket", "nats_client_consumer_pending",
		"nats_client_consumer_redelivered_total", "nats_client_slow_consumers_total",
		`messaging_operation_name=~"ack|nak|term|in_progress"`,
	} {
		assert(t, strings.Contains(text, want), "overview queries never use %s", want)
	}
	for _, want := range []string{"heatmap", "state-timeline", "timeseries", "stat"} {
		assert(t, types[want], "overview has no %s panel", want)
	}
}

// ruleAnchors returns the troubleshooting anchors the alert rules link to
// (runbook URLs of the form <runbook base>#<anchor>).
func ruleAnchors(t *testing.T) []string {
	base := runbookBase(t)
	seen := map[string]bool{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if a, ok := runbookAnchor(base, r.Annotations["runbook_url"]); ok {
				seen[a] = true
			}
		}
	}
	var out []string
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

func TestAlertRulesLint(t *testing.T) {
	rf := loadRules(t)
	names := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			where := "rule " + r.Alert + r.Record
			require.NotEmpty(t, r.Alert, "%s: only alerting rules belong in alerts.yml", where)
			assert(t, !names[r.Alert], "duplicate alert %s", r.Alert)
			names[r.Alert] = true
			assert(t, map[string]bool{"critical": true, "warning": true, "info": true}[r.Labels["severity"]],
				"%s: labels.severity must be critical, warning or info, got %q", where, r.Labels["severity"])
			for _, a := range []string{"summary", "description", "runbook_url"} {
				assert(t, strings.TrimSpace(r.Annotations[a]) != "", "%s: annotation %s is missing", where, a)
			}
			_, ok := runbookAnchor(runbookBase(t), r.Annotations["runbook_url"])
			assert(t, ok, "%s: runbook_url %q must be %s#<anchor> (the runbook base of alerts.yml)",
				where, r.Annotations["runbook_url"], runbookBase(t))
			checkExpr(t, where, r.Expr, true)
		}
	}
	assert(t, len(names) >= 11, "want at least 11 alerts, got %d", len(names))
	t.Logf("runbook anchors: %v", ruleAnchors(t))
}

// TestRunbookAnchors: once docs/troubleshooting.md exists, every anchor the
// alerts link to must exist in it (a heading or an explicit id).
func TestRunbookAnchors(t *testing.T) {
	b, err := os.ReadFile(repoPath("docs", "troubleshooting.md"))
	if os.IsNotExist(err) {
		t.Skip("docs/troubleshooting.md is not written yet")
	}
	require.NoError(t, err)
	have := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimLeft(line, " "), "#"); ok {
			have[slug(strings.TrimLeft(h, "# "))] = true
		}
		for _, m := range regexp.MustCompile(`(?:id|name)="([^"]+)"`).FindAllStringSubmatch(line, -1) {
			have[m[1]] = true
		}
		for _, m := range regexp.MustCompile(`\{#([\w-]+)\}`).FindAllStringSubmatch(line, -1) {
			have[m[1]] = true
		}
	}
	for _, a := range ruleAnchors(t) {
		assert(t, have[a], "docs/troubleshooting.md has no #%s anchor (an alert's runbook_url points there)", a)
	}
}

// slug is GitHub's heading anchor: lower case, punctuation dropped, spaces
// to hyphens.
func slug(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

type ruleTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		InputSeries []struct {
			Series string `yaml:"series"`
			Values string `yaml:"values"`
		} `yaml:"input_series"`
		AlertRuleTest []struct {
			EvalTime  string           `yaml:"eval_time"`
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestAlertUnitTestsCoverEveryAlert: alerts_test.yml has, for every alert,
// a case where it fires and a case where it stays silent, and only uses
// metric names of the names table.
func TestAlertUnitTestsCoverEveryAlert(t *testing.T) {
	var rt ruleTests
	readYAML(t, filepath.Join("prometheus", "alerts_test.yml"), &rt)
	require.Equal(t, []string{"alerts.yml"}, rt.RuleFiles)
	fires, silent := map[string]bool{}, map[string]bool{}
	ps := promNames(t)
	for _, tc := range rt.Tests {
		for _, s := range tc.InputSeries {
			name := s.Series[:strings.IndexAny(s.Series+"{", "{")]
			_, ok := ps.names[name]
			assert(t, ok, "alerts_test.yml: series %q is not in the names table", name)
		}
		for _, c := range tc.AlertRuleTest {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alertname] = true
			} else {
				silent[c.Alertname] = true
			}
		}
	}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			assert(t, fires[r.Alert], "alerts_test.yml never shows %s firing", r.Alert)
			assert(t, silent[r.Alert], "alerts_test.yml never shows %s staying silent", r.Alert)
		}
	}
}
