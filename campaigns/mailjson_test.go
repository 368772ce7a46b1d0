package campaigns

import (
	"encoding/json"
	"maps"
	"testing"
)

// The worker decodes signing mails' data with encoding/json: what mailData
// writes must decode to exactly what encoding/json would have written.
func TestMailDataDecodesAsEncodingJSONWould(t *testing.T) {
	for _, v := range []string{"", "Ada", `quote " and \ backslash`, "tab\tnew\nline\x00\x1f", "</script><b>&",
		"Zoë 😀 ünïcode", "bad \xff\xfe utf-8", "\u2028\u2029", "https://example.org/confirm/abc_DEF-123"} {
		got := map[string]string{}
		if err := json.Unmarshal([]byte(mailData(mailField{"Name", []string{"<", v, ">"}}, mailField{"k\"ey", []string{"x"}})), &got); err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		want := map[string]string{}
		b, _ := json.Marshal(map[string]string{"Name": "<" + v + ">", "k\"ey": "x"})
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("%q decodes to %q, want %q", v, got, want)
		}
	}
}
