package dashboards_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// inCI reports whether the tests run in CI, where every external tool the
// tests use must be installed (.ci/run installs them).
func inCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// requireTool returns the path of an external program. A missing program
// fails the test in CI and skips it elsewhere.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if inCI() {
		t.Fatalf("%s is not installed; CI must install it (see .ci/run)", name)
	}
	t.Skipf("%s is not installed (apt-get install prometheus docker-compose); skipping", name)
	return ""
}

// repoPath returns a path relative to the repository root.
func repoPath(elem ...string) string {
	return filepath.Join(append([]string{".."}, elem...)...)
}
