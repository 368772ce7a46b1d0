package templates

import "testing"

func TestTicked(t *testing.T) {
	for v, want := range map[string]bool{
		"1": true, "on": true, "On": true, "true": true, "TRUE": true, "yes": true, " 1 ": true,
		"": false, "0": false, "off": false, "false": false, "no": false, "11": false,
	} {
		if got := Ticked(v); got != want {
			t.Errorf("Ticked(%q) = %v, want %v", v, got, want)
		}
	}
}
