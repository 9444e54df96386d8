package docs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCLIFlags checks that every --flag docs/api/cli.md names under a
// "## naq <command>" heading is a flag of that command (or a global one), by
// building the CLI and reading its --help.
func TestCLIFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the naq CLI; skipped with -short")
	}
	root := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "naq")
	build := exec.Command(goTool(t), "build", "-o", bin, "./cmd/naq")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/naq: %s", out)

	text := readMarkdownFile(t, "docs/api/cli.md")
	section := regexp.MustCompile(`(?m)^## naq ([a-z ]+)$`)
	flag := regexp.MustCompile(`(?:^|[\s` + "`" + `(])(--[a-z][a-z-]*)`)
	idx := section.FindAllStringSubmatchIndex(text, -1)
	require.NotEmpty(t, idx, "docs/api/cli.md: no \"## naq <command>\" sections")
	for i, m := range idx {
		cmd := strings.Fields(text[m[2]:m[3]])
		end := len(text)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		body := text[m[1]:end]
		help, err := exec.Command(bin, append(cmd, "--help")...).CombinedOutput()
		require.NoError(t, err, "naq %s --help: %s", strings.Join(cmd, " "), help)
		for _, f := range flag.FindAllStringSubmatch(body, -1) {
			assert.True(t, strings.Contains(string(help), f[1]+" "),
				"docs/api/cli.md documents %s for `naq %s`, which its --help does not list", f[1], strings.Join(cmd, " "))
		}
	}
}

func readMarkdownFile(t *testing.T, rel string) string {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	require.NoError(t, err)
	return string(b)
}
