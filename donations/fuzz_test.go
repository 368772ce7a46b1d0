package donations

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

// FuzzCSVSafe: in the donations export, no cell a donor typed starts with
// a character that makes a spreadsheet read it as a formula (= + - @ tab
// CR | %); the guard adds one apostrophe in front and changes nothing else,
// and the cell comes back whole from the CSV file. Explore with
//
//	go test ./donations -run XXX -fuzz '^FuzzCSVSafe$' -fuzztime 5m
func FuzzCSVSafe(f *testing.F) {
	const formula = "=+-@\t\r|%"
	f.Fuzz(func(t *testing.T, cell string) {
		got := csvSafe(cell)
		if got != cell && got != "'"+cell {
			t.Fatalf("csvSafe(%q) = %q: changed more than a leading apostrophe", cell, got)
		}
		if got != "" && strings.ContainsRune(formula, rune(got[0])) {
			t.Errorf("csvSafe(%q) = %q starts with %q", cell, got, got[0])
		}
		if got != cell && (cell == "" || !strings.ContainsRune(formula, rune(cell[0]))) {
			t.Errorf("csvSafe(%q) = %q: guarded a harmless cell", cell, got)
		}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.Write([]string{got, "x"})
		w.Flush()
		rec, err := csv.NewReader(&b).Read()
		if want := strings.ReplaceAll(got, "\r\n", "\n"); err != nil || len(rec) != 2 || rec[0] != want {
			t.Errorf("cell %q read back as %q, %v", got, rec, err)
		}
	})
}
