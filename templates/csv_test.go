package templates

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"unicode"
)

func TestCSVCell(t *testing.T) {
	tests := map[string]string{
		"=1+1": "'=1+1", "+33 6": "'+33 6", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)",
		"|calc'!A0": "'|calc'!A0", "%0A=1": "'%0A=1", "\t=1": "'\t=1", "\r=1": "'\r=1",
		"Ada": "Ada", "ada@example.org": "ada@example.org", " =1": "' =1", "\u00a0 +1": "'\u00a0 +1", "\n=1": "'\n=1",
		"＝1+1": "'＝1+1", "  ": "  ", "a =1": "a =1", "": "",
	}
	for in, want := range tests {
		if got := CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCSVCell: in every export, no cell someone typed starts, after any
// white space, with a character that makes a spreadsheet read it as a
// formula (= + - @ tab CR | % and their full-width forms); the guard adds
// one apostrophe in front and changes nothing else, and the cell comes
// back whole from the CSV file. Explore with
//
//	go test ./templates -run XXX -fuzz '^FuzzCSVCell$' -fuzztime 5m
func FuzzCSVCell(f *testing.F) {
	// starts is where a spreadsheet begins to read the cell: after the
	// white space it trims, unless that is a tab or CR.
	starts := func(s string) rune {
		if s != "" && (s[0] == '\t' || s[0] == '\r') {
			return rune(s[0])
		}
		for _, r := range strings.TrimLeftFunc(s, unicode.IsSpace) {
			return r
		}
		return 0
	}
	const formula = "=+-@\t\r|%＝＋－＠"
	f.Fuzz(func(t *testing.T, cell string) {
		got := CSVCell(cell)
		if got != cell && got != "'"+cell {
			t.Fatalf("CSVCell(%q) = %q: changed more than a leading apostrophe", cell, got)
		}
		if r := starts(got); r != 0 && strings.ContainsRune(formula, r) {
			t.Errorf("CSVCell(%q) = %q starts with %q", cell, got, r)
		}
		if r := starts(cell); got != cell && (r == 0 || !strings.ContainsRune(formula, r)) {
			t.Errorf("CSVCell(%q) = %q: guarded a harmless cell", cell, got)
		}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		_ = w.Write([]string{got, "x"})
		w.Flush()
		rec, err := csv.NewReader(&b).Read()
		// encoding/csv reads \r\n back as \n (the exports write comments
		// with \n already).
		if want := strings.ReplaceAll(got, "\r\n", "\n"); err != nil || len(rec) != 2 || rec[0] != want {
			t.Errorf("cell %q read back as %q, %v", got, rec, err)
		}
	})
}
