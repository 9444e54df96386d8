package docs_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

// repoRoot is the module root: the parent of this package's directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	root := filepath.Dir(wd)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "the docs tests run from <repo>/docs")
	return root
}

// markdownFiles returns README.md and every docs/**/*.md (testdata
// excluded), as paths relative to the repo root with forward slashes.
func markdownFiles(t testing.TB) []string {
	t.Helper()
	root := repoRoot(t)
	files := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(files[1:])
	return files
}

// mdDoc is a parsed Markdown file: its fenced code blocks, its prose lines
// (outside fences, inline code removed) and its heading anchors.
type mdDoc struct {
	path    string // relative to the repo root
	fences  []fence
	prose   []proseLine
	anchors map[string]bool
}

type fence struct {
	lang string
	line int // 1-based line of the first body line
	body string
}

type proseLine struct {
	line int
	text string // inline code removed
	raw  string
}

var (
	fenceOpen  = regexp.MustCompile("^(\\s*)(`{3,}|~{3,})\\s*([^\\s`]*)")
	headingRe  = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
)

func readMarkdown(t testing.TB, rel string) *mdDoc {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	require.NoError(t, err)
	return parseMarkdown(rel, string(src))
}

func parseMarkdown(rel, src string) *mdDoc {
	d := &mdDoc{path: rel, anchors: map[string]bool{}}
	lines := strings.Split(src, "\n")
	slugs := map[string]int{}
	for i := 0; i < len(lines); i++ {
		m := fenceOpen.FindStringSubmatch(lines[i])
		if m != nil {
			indent, marker, lang := len(m[1]), m[2], strings.ToLower(m[3])
			var body []string
			j := i + 1
			for ; j < len(lines); j++ {
				trimmed := strings.TrimSpace(lines[j])
				if strings.HasPrefix(trimmed, marker[:3]) && strings.Trim(trimmed, marker[:1]) == "" && len(trimmed) >= len(marker) {
					break
				}
				l := lines[j]
				// Remove the fence's own indentation (list items).
				k := 0
				for k < indent && k < len(l) && l[k] == ' ' {
					k++
				}
				body = append(body, l[k:])
			}
			d.fences = append(d.fences, fence{lang: lang, line: i + 2, body: strings.Join(body, "\n")})
			i = j
			continue
		}
		text := stripInlineCode(lines[i])
		d.prose = append(d.prose, proseLine{line: i + 1, text: text, raw: lines[i]})
		for _, a := range htmlAnchor.FindAllStringSubmatch(lines[i], -1) {
			d.anchors[a[1]] = true
		}
		if h := headingRe.FindStringSubmatch(lines[i]); h != nil {
			slug := githubSlug(h[2])
			n := slugs[slug]
			slugs[slug] = n + 1
			if n > 0 {
				slug += "-" + strconv.Itoa(n)
			}
			d.anchors[slug] = true
		}
	}
	return d
}

// stripInlineCode removes `code spans` (any backtick run length) so that
// link syntax shown as code is not checked.
func stripInlineCode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '`' {
			b.WriteByte(s[i])
			i++
			continue
		}
		n := 0
		for i+n < len(s) && s[i+n] == '`' {
			n++
		}
		closer := strings.Repeat("`", n)
		end := strings.Index(s[i+n:], closer)
		if end < 0 {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		i += n + end + n
	}
	return b.String()
}

var mdLinkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)

// mdTable is a pipe table: its header cells and body rows, cells trimmed.
type mdTable struct {
	line   int
	header []string
	rows   [][]string
}

// tables returns the pipe tables of d (outside code fences).
func (d *mdDoc) tables() []mdTable {
	var out []mdTable
	var cur *mdTable
	for i, p := range d.prose {
		raw := strings.TrimSpace(p.raw)
		contiguous := i > 0 && d.prose[i-1].line == p.line-1
		if !strings.HasPrefix(raw, "|") || (cur != nil && !contiguous) {
			if cur != nil {
				out = append(out, *cur)
				cur = nil
			}
			if !strings.HasPrefix(raw, "|") {
				continue
			}
		}
		cells := splitRow(raw)
		switch {
		case cur == nil:
			cur = &mdTable{line: p.line, header: cells}
		case len(cur.rows) == 0 && isDelimiterRow(cells):
		default:
			cur.rows = append(cur.rows, cells)
		}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out
}

// table returns the first table whose first header cell is first.
func (d *mdDoc) table(first string) (mdTable, bool) {
	for _, t := range d.tables() {
		if len(t.header) > 0 && t.header[0] == first {
			return t, true
		}
	}
	return mdTable{}, false
}

func splitRow(raw string) []string {
	raw = strings.TrimSpace(raw)
	raw = strings.TrimPrefix(raw, "|")
	raw = strings.TrimSuffix(raw, "|")
	var cells []string
	var b strings.Builder
	inCode := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw) && raw[i+1] == '|':
			b.WriteByte('|')
			i++
		case c == '`':
			inCode = !inCode
			b.WriteByte(c)
		case c == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(cells, strings.TrimSpace(b.String()))
}

func isDelimiterRow(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, ":- ") != "" {
			return false
		}
	}
	return true
}

// codeSpans returns the contents of the `code spans` of a cell.
func codeSpans(cell string) []string {
	var out []string
	parts := strings.Split(cell, "`")
	for i := 1; i < len(parts); i += 2 {
		out = append(out, parts[i])
	}
	return out
}

// githubSlug is GitHub's heading anchor: markup removed, lower case, every
// character but letters, digits, spaces, '-' and '_' dropped, spaces turned
// into '-'.
func githubSlug(heading string) string {
	h := mdLinkText.ReplaceAllString(heading, "$1")
	h = strings.NewReplacer("`", "", "*", "").Replace(h)
	h = strings.TrimSpace(strings.ToLower(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func TestGithubSlug(t *testing.T) {
	for in, want := range map[string]string{
		"High error ratio":                      "high-error-ratio",
		"`scope.Run` and `scope.Do[T]`":         "scoperun-and-scopedot",
		"NAQ_* environment":                     "naq_-environment",
		"Connection refused / no servers":       "connection-refused--no-servers",
		"[Links](x.md) in *headings*":           "links-in-headings",
		"Retry vs. breaker: which one?":         "retry-vs-breaker-which-one",
		"`error.type=circuit_open` on a span":   "errortypecircuit_open-on-a-span",
		"Producer → JetStream → consumer trace": "producer--jetstream--consumer-trace",
	} {
		require.Equal(t, want, githubSlug(in), in)
	}
}
