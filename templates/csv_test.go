package templates

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

func TestCSVCell(t *testing.T) {
	tests := map[string]string{
		"=1+1": "'=1+1", "+33 6": "'+33 6", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)",
		"|calc'!A0": "'|calc'!A0", "%0A=1": "'%0A=1", "\t=1": "'\t=1", "\r=1": "'\r=1",
		"Ada": "Ada", "ada@example.org": "ada@example.org", " =1": " =1", "": "",
	}
	for in, want := range tests {
		if got := CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCSVCell: in every export, no cell someone typed starts with a
// character that makes a spreadsheet read it as a formula (= + - @ tab CR
// | %); the guard adds one apostrophe in front and changes nothing else,
// and the cell comes back whole from the CSV file. Explore with
//
//	go test ./templates -run XXX -fuzz '^FuzzCSVCell$' -fuzztime 5m
func FuzzCSVCell(f *testing.F) {
	const formula = "=+-@\t\r|%"
	f.Fuzz(func(t *testing.T, cell string) {
		got := CSVCell(cell)
		if got != cell && got != "'"+cell {
			t.Fatalf("CSVCell(%q) = %q: changed more than a leading apostrophe", cell, got)
		}
		if got != "" && strings.ContainsRune(formula, rune(got[0])) {
			t.Errorf("CSVCell(%q) = %q starts with %q", cell, got, got[0])
		}
		if got != cell && (cell == "" || !strings.ContainsRune(formula, rune(cell[0]))) {
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
