package templates

// CSVCell returns s as a cell of a CSV export that a spreadsheet will not
// read as a formula: text starting with = + - @ tab CR | or % gets a
// leading apostrophe; everything else is left as it is. Every export runs
// what people typed through it, as every page escapes it.
func CSVCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '|', '%':
		return "'" + s
	}
	return s
}
