package workflows

import (
	"strings"
	"unicode"
)

// mdText makes caller-written text (names, reasons, details) safe inside one line of the
// Markdown report: line breaks are folded so the text cannot start a line of its own (a
// forged "— accepted" decision, a heading), other control characters are dropped, and the
// characters that make links, HTML, emphasis, code or table cells are escaped.
func mdText(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '\r' || c == '\n' || c == '\v' || c == '\f' || c == '\u0085' || c == '\u2028' || c == '\u2029':
			b.WriteString(" ⏎ ")
		case c == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(c) || unicode.Is(unicode.Cf, c):
			// Dropped: escapes that move a terminal's cursor, marks that reorder text.
		case strings.ContainsRune("\\`*_[]<>|~", c):
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}
