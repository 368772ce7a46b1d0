package donations

import (
	"errors"
	"strings"
	"testing"

	"github.com/rallyhq/rally/templates"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in   string
		cur  string
		want int64
		err  error
	}{
		{"10", "eur", 1000, nil},
		{"12.50", "eur", 1250, nil},
		{"12,50", "eur", 1250, nil},
		{"12.5", "eur", 1250, nil},
		{" 7 ", "eur", 700, nil},
		{"€12.50", "eur", 1250, nil},
		{"12,50 €", "eur", 1250, nil},
		{"1.00", "eur", 100, nil},
		{"10000", "eur", 1_000_000, nil},
		{"10,000.00", "eur", 1_000_000, nil},
		{"1 000,50", "eur", 100_050, nil},
		{"1\u202f000,50", "eur", 100_050, nil},
		{"1.000,50", "eur", 100_050, nil},
		{".50", "eur", 0, ErrAmountTooSmall},
		{"0.99", "eur", 0, ErrAmountTooSmall},
		{"0", "eur", 0, ErrAmountTooSmall},
		{"10000.01", "eur", 0, ErrAmountTooLarge},
		{"99999999999999", "eur", 0, ErrAmountTooLarge},
		{"12.505", "eur", 0, ErrAmountDecimals},
		{"1,000", "eur", 0, ErrAmountDecimals}, // a thousands separator, or three decimals: not guessed
		{"1.000", "eur", 0, ErrAmountDecimals},
		{"12.5050", "eur", 0, ErrAmountDecimals},
		{"-5", "eur", 0, ErrAmountFormat},
		{"-5.00", "eur", 0, ErrAmountFormat},
		{"+5", "eur", 0, ErrAmountFormat},
		{"", "eur", 0, ErrAmountFormat},
		{"ten", "eur", 0, ErrAmountFormat},
		{"12.", "eur", 0, ErrAmountFormat},
		{"1.2.3", "eur", 0, ErrAmountFormat},
		{"1,00,000.00", "eur", 0, ErrAmountFormat},
		{"1e3", "eur", 0, ErrAmountFormat},
		{"0x10", "eur", 0, ErrAmountFormat},
		{"５", "eur", 0, ErrAmountFormat},
		{"NaN", "eur", 0, ErrAmountFormat},
		{"1000", "jpy", 1000, nil},
		{"¥1000", "jpy", 1000, nil},
		{"1000.50", "jpy", 0, ErrAmountDecimals},
		{"99", "jpy", 0, ErrAmountTooSmall},
		{"10", "xyz", 0, ErrAmountFormat},
	}
	for _, tt := range tests {
		t.Run(tt.cur+" "+tt.in, func(t *testing.T) {
			got, err := ParseAmount(tt.in, tt.cur)
			if !errors.Is(err, tt.err) || (tt.err != nil) != (err != nil) {
				t.Fatalf("ParseAmount(%q, %s) error = %v, want %v", tt.in, tt.cur, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("ParseAmount(%q, %s) = %d, want %d", tt.in, tt.cur, got, tt.want)
			}
		})
	}
}

func TestFormatMoney(t *testing.T) {
	rdr, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	nbsp := func(s string) string { return strings.NewReplacer("\u00a0", " ", "\u202f", " ").Replace(s) }
	tests := []struct {
		lang  string
		minor int64
		cur   string
		want  string
	}{
		{"en", 1250, "eur", "€12.50"},
		{"en", 1000, "eur", "€10"},
		{"en", 123456, "eur", "€1,234.56"},
		{"fr", 1250, "eur", "12,50 €"},
		{"fr", 123456, "eur", "1 234,56 €"},
		{"en", 1205, "chf", "CHF 12.05"},
		{"en", 1500, "jpy", "¥1,500"},
		{"fr", 1500, "jpy", "1 500 ¥"},
	}
	for _, tt := range tests {
		if got := nbsp(formatMoney(rdr.Catalogue, tt.lang, tt.minor, tt.cur)); got != tt.want {
			t.Errorf("formatMoney(%s, %d, %s) = %q, want %q", tt.lang, tt.minor, tt.cur, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"off", Config{}, true},
		{"on", Config{SecretKey: "sk_test_1", WebhookSecret: "whsec_1"}, true},
		{"jpy", Config{SecretKey: "sk_test_1", WebhookSecret: "whsec_1", Currency: "JPY"}, true},
		{"secret only", Config{SecretKey: "sk_test_1"}, false},
		{"webhook only", Config{WebhookSecret: "whsec_1"}, false},
		{"three decimals", Config{Currency: "kwd"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
