package docs_test

import (
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLink    = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$`)
	hrefLink   = regexp.MustCompile(`<a\s+[^>]*href="([^"]+)"`)
)

type link struct {
	file   string
	line   int
	target string
}

func docLinks(t testing.TB) []link {
	var out []link
	for _, f := range markdownFiles(t) {
		d := readMarkdown(t, f)
		for _, p := range d.prose {
			for _, re := range []*regexp.Regexp{inlineLink, refLink, hrefLink} {
				for _, m := range re.FindAllStringSubmatch(p.text, -1) {
					out = append(out, link{file: f, line: p.line, target: m[1]})
				}
			}
		}
	}
	return out
}

// TestRelativeLinks checks that every relative link of README.md and
// docs/**/*.md names an existing file or directory of the repository and,
// for a Markdown target, an existing heading anchor.
func TestRelativeLinks(t *testing.T) {
	root := repoRoot(t)
	docs := map[string]*mdDoc{}
	get := func(rel string) *mdDoc {
		if d, ok := docs[rel]; ok {
			return d
		}
		docs[rel] = readMarkdown(t, rel)
		return docs[rel]
	}
	links := docLinks(t)
	checked := 0
	for _, l := range links {
		u, err := url.Parse(l.target)
		if !assert.NoError(t, err, "%s:%d: bad link %q", l.file, l.line, l.target) {
			continue
		}
		if u.Scheme != "" || strings.HasPrefix(l.target, "//") {
			continue // external: not checked offline
		}
		checked++
		target := l.file
		if u.Path != "" {
			target = path.Clean(path.Join(path.Dir(l.file), u.Path))
			if strings.HasPrefix(target, "../") || target == ".." {
				t.Errorf("%s:%d: link %q leaves the repository", l.file, l.line, l.target)
				continue
			}
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(target))); err != nil {
				t.Errorf("%s:%d: link %q: %s does not exist", l.file, l.line, l.target, target)
				continue
			}
		}
		if u.Fragment != "" && strings.HasSuffix(target, ".md") {
			if !get(target).anchors[u.Fragment] {
				t.Errorf("%s:%d: link %q: no heading with anchor #%s in %s (anchors: %s)",
					l.file, l.line, l.target, u.Fragment, target, anchorList(get(target)))
			}
		}
	}
	require.Positive(t, checked, "no relative links found")
}

// TestAlertRunbooks checks that every runbook_url of the Prometheus alert
// rules is an absolute link to an existing heading of
// docs/troubleshooting.md: https://.../docs/troubleshooting.md#<heading> by
// default (an internal mirror keeps the anchors; dashboards/runbook_test.go
// checks the declared base).
func TestAlertRunbooks(t *testing.T) {
	root := repoRoot(t)
	rules, err := os.ReadFile(filepath.Join(root, "dashboards", "prometheus", "alerts.yml"))
	require.NoError(t, err)
	re := regexp.MustCompile(`runbook_url:\s*"?([^"\s]+)"?`)
	ms := re.FindAllStringSubmatch(string(rules), -1)
	require.NotEmpty(t, ms, "alerts.yml has no runbook_url")
	ts := readMarkdown(t, "docs/troubleshooting.md")
	for _, m := range ms {
		u, err := url.Parse(m[1])
		require.NoError(t, err)
		assert.True(t, u.IsAbs() && u.Host != "", "runbook %s must be an absolute URL (clickable from Alertmanager)", m[1])
		assert.True(t, strings.HasSuffix(u.Path, "/docs/troubleshooting.md"), "runbook %s must link docs/troubleshooting.md", m[1])
		assert.True(t, ts.anchors[u.Fragment], "runbook %s: docs/troubleshooting.md has no heading #%s", m[1], u.Fragment)
	}
}

func anchorList(d *mdDoc) string {
	var a []string
	for k := range d.anchors {
		a = append(a, k)
	}
	sort.Strings(a)
	if len(a) > 20 {
		a = append(a[:20], "...")
	}
	return strings.Join(a, ", ")
}

// TestAlertsTable checks that the alerts table of docs/observability.md lists
// every alert of alerts.yml with a link to that alert's runbook.
func TestAlertsTable(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join(repoRoot(t), "dashboards", "prometheus", "alerts.yml"))
	require.NoError(t, err)
	re := regexp.MustCompile(`(?s)- alert: (\w+).*?runbook_url:\s*"?[^"\s#]*#([a-z0-9-]+)`)
	want := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(rules), -1) {
		want[m[1]] = m[2]
	}
	require.NotEmpty(t, want)
	tb, ok := readMarkdown(t, "docs/observability.md").table("alert")
	require.True(t, ok, "docs/observability.md: no table whose first column is \"alert\"")
	seen := map[string]bool{}
	for _, row := range tb.rows {
		name := strings.TrimSpace(row[0])
		seen[name] = true
		anchor, ok := want[name]
		if !assert.True(t, ok, "docs/observability.md lists alert %s, which alerts.yml does not define", name) {
			continue
		}
		assert.Contains(t, strings.Join(row, "|"), "troubleshooting.md#"+anchor+")", "alert %s must link its runbook #%s", name, anchor)
	}
	for name := range want {
		assert.True(t, seen[name], "alert %s of alerts.yml is missing from the alerts table of docs/observability.md", name)
	}
}

// TestDashboardsListed checks that docs/observability.md names every Grafana
// dashboard the repository ships.
func TestDashboardsListed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "dashboards", "grafana", "dashboards", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	text := mdText(t, "docs/observability.md")
	for _, f := range files {
		assert.Contains(t, text, filepath.Base(f), "docs/observability.md does not describe the dashboard %s", filepath.Base(f))
	}
}
