package dashboards_test

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// defaultRunbookBase is where the runbooks live when nobody points them
// elsewhere: docs/troubleshooting.md of the repository.
const defaultRunbookBase = "https://github.com/naq-io/naq/blob/main/docs/troubleshooting.md"

var (
	runbookBaseRE = regexp.MustCompile(`(?m)^# runbook-base: (\S+)$`)
	anchorRE      = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	runbookURLRE  = regexp.MustCompile(`runbook_url:\s*"?([^"\s]+)"?`)
)

// runbookBaseIn reads the base declared by the "# runbook-base: " line of an
// alerts.yml.
func runbookBaseIn(t *testing.T, alertsYML string) string {
	t.Helper()
	b, err := os.ReadFile(alertsYML)
	require.NoError(t, err)
	m := runbookBaseRE.FindAllSubmatch(b, -1)
	require.Len(t, m, 1, "%s must declare its runbook base once, as \"# runbook-base: <url>\"", alertsYML)
	return string(m[0][1])
}

// runbookBase is the runbook base of the shipped alerts.yml.
func runbookBase(t *testing.T) string {
	t.Helper()
	return runbookBaseIn(t, filepath.Join("prometheus", "alerts.yml"))
}

// runbookAnchor returns the anchor of a runbook URL <base>#<anchor>.
func runbookAnchor(base, u string) (string, bool) {
	a, ok := strings.CutPrefix(u, base+"#")
	return a, ok && anchorRE.MatchString(a)
}

// TestRunbookURLs: the base is an absolute URL (clickable from
// Alertmanager), every runbook_url of alerts.yml and of the promtool tests
// starts with it, and each anchor is a heading of docs/troubleshooting.md
// (TestRunbookAnchors). The repository ships the default base, its own docs.
func TestRunbookURLs(t *testing.T) {
	base := runbookBase(t)
	u, err := url.Parse(base)
	require.NoError(t, err)
	assert(t, (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.Fragment == "",
		"runbook base %q must be an absolute http(s) URL without a fragment", base)
	assert(t, base == defaultRunbookBase, "the repository ships the runbook base %s, got %s", defaultRunbookBase, base)
	for _, f := range []string{"alerts.yml", "alerts_test.yml"} {
		b, err := os.ReadFile(filepath.Join("prometheus", f))
		require.NoError(t, err)
		ms := runbookURLRE.FindAllStringSubmatch(string(b), -1)
		require.NotEmpty(t, ms, "%s has no runbook_url", f)
		for _, m := range ms {
			_, ok := runbookAnchor(base, m[1])
			assert(t, ok, "%s: runbook_url %q must be %s#<anchor>", f, m[1], base)
		}
	}
}

// TestSetRunbookBase runs the documented set-runbook-base.sh on a copy of
// the rules: every runbook_url then starts with the mirror's base, the
// anchors are unchanged, and the promtool unit tests still pass.
func TestSetRunbookBase(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"alerts.yml", "alerts_test.yml"} {
		b, err := os.ReadFile(filepath.Join("prometheus", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	script, err := filepath.Abs(filepath.Join("prometheus", "set-runbook-base.sh"))
	require.NoError(t, err)
	sh := requireTool(t, "sh")
	const mirror = "https://wiki.example.internal/naq/troubleshooting?page=runbooks&lang=en"
	out := runTool(t, dir, sh, script, mirror, dir)
	assert(t, strings.Contains(out, "-> "+mirror), "script output: %s", out)
	assert(t, runbookBaseIn(t, filepath.Join(dir, "alerts.yml")) == mirror, "the declared base was not rewritten")

	anchors := ruleAnchors(t)
	for _, f := range []string{"alerts.yml", "alerts_test.yml"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		assert(t, !strings.Contains(string(b), defaultRunbookBase), "%s still links %s", f, defaultRunbookBase)
		seen := map[string]bool{}
		for _, m := range runbookURLRE.FindAllStringSubmatch(string(b), -1) {
			a, ok := runbookAnchor(mirror, m[1])
			assert(t, ok, "%s: runbook_url %q does not start with the mirror's base", f, m[1])
			seen[a] = true
		}
		if f == "alerts.yml" {
			for _, a := range anchors {
				assert(t, seen[a], "anchor #%s lost", a)
			}
		}
	}

	for _, bad := range []string{"wiki.example.internal/naq", "https://x.example/a#b", "https://x.example/a b"} {
		err := exec.Command(sh, script, bad, dir).Run()
		assert(t, err != nil, "set-runbook-base.sh accepted %q", bad)
	}

	if _, err := exec.LookPath("promtool"); err == nil || inCI() {
		promtool := requireTool(t, "promtool")
		out := runTool(t, dir, promtool, "test", "rules", "alerts_test.yml")
		assert(t, strings.Contains(out, "SUCCESS"), "promtool test rules on the mirrored copy:\n%s", out)
	}
}
