package templates

import (
	"strings"
	"unicode"
)

// CSVCell returns s as a cell of a CSV export that a spreadsheet will not
// read as a formula: text whose first character other than white space is
// = + - @ | or % (or the full-width ＝ ＋ － ＠ that some spreadsheets read
// as formulas too), or that starts with a tab or CR, gets a leading
// apostrophe; everything else is left as it is. Spreadsheets trim leading
// spaces on import, so " =1+1" is a formula to them as much as "=1+1".
// Every export runs what people typed through it, as every page escapes it.
func CSVCell(s string) string {
	if needsCSVGuard(s) {
		return "'" + s
	}
	return s
}

// formulaStarts are the characters that make a spreadsheet read a cell as
// a formula.
const formulaStarts = "=+-@|%＝＋－＠"

// needsCSVGuard reports whether CSVCell guards s.
func needsCSVGuard(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '\t' || s[0] == '\r' {
		return true
	}
	t := strings.TrimLeftFunc(s, unicode.IsSpace)
	if t == "" {
		return false
	}
	for _, r := range t {
		return strings.ContainsRune(formulaStarts, r)
	}
	return false
}
