package dashboards_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runTool runs an external program in dir with a bounded run time and fails
// the test with its output when it exits non-zero.
func runTool(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPromtool runs promtool on the compose stack's Prometheus config, the
// alert rules and the rules' unit tests (alerts_test.yml).
func TestPromtool(t *testing.T) {
	promtool := requireTool(t, "promtool")
	t.Log(strings.TrimSpace(strings.SplitN(runTool(t, ".", promtool, "--version"), "\n", 2)[0]))
	dir := "prometheus"
	t.Run("check config", func(t *testing.T) {
		out := runTool(t, dir, promtool, "check", "config", "prometheus.yml")
		if !strings.Contains(out, "alerts.yml") {
			t.Errorf("prometheus.yml does not load alerts.yml:\n%s", out)
		}
	})
	t.Run("check rules", func(t *testing.T) {
		runTool(t, dir, promtool, "check", "rules", "alerts.yml")
	})
	t.Run("test rules", func(t *testing.T) {
		out := runTool(t, dir, promtool, "test", "rules", "alerts_test.yml")
		if !strings.Contains(out, "SUCCESS") {
			t.Errorf("promtool test rules:\n%s", out)
		}
	})
}
