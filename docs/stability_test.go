package docs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/internal/semconv"
)

// TestStabilityTable checks the table of docs/observability.md that lists
// the names OTEL_SEMCONV_STABILITY_OPT_IN=messaging switches: exactly
// semconv.Renames, old name to new name.
func TestStabilityTable(t *testing.T) {
	doc := readMarkdown(t, "docs/observability.md")
	tb, ok := doc.table("default name")
	require.True(t, ok, "docs/observability.md: no table whose first column is \"default name\"")
	want := map[string]string{}
	for _, r := range semconv.Renames() {
		want[string(r.Old)] = string(r.New)
	}
	got := map[string]string{}
	for _, row := range tb.rows {
		require.GreaterOrEqual(t, len(row), 2, "docs/observability.md:%d: short row %v", tb.line, row)
		oldName, newName := codeSpans(row[0]), codeSpans(row[1])
		require.Len(t, oldName, 1, "first cell %q must hold one `name`", row[0])
		require.Len(t, newName, 1, "second cell %q must hold one `name`", row[1])
		got[oldName[0]] = newName[0]
	}
	assert.Equal(t, want, got)
}
