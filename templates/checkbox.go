package templates

import "strings"

// Ticked reports whether a posted checkbox value means ticked. Rally's forms
// send "1"; "on" (a browser's default value), "true" and "yes" are accepted
// too, in any case and with spaces around. Pages use it as {{ticked .X}}
// to show a box as the person left it.
func Ticked(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "on", "true", "yes":
		return true
	}
	return false
}
