package notify

import "testing"

func TestFirstName(t *testing.T) {
	for name, want := range map[string]string{
		"Ada Lovelace":      "Ada",
		"  Élodie  Martin ": "Élodie",
		"Doe, John":         "John",
		"Doe,John Paul":     "John",
		"John,":             "John",
		", John":            "John",
		"Cher":              "Cher",
		"":                  "",
	} {
		if got := FirstName(name); got != want {
			t.Errorf("FirstName(%q) = %q, want %q", name, got, want)
		}
	}
}
