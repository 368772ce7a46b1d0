package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func TestConfigFlagsWinOverEnvironment(t *testing.T) {
	env := map[string]string{"RALLY_ADDR": ":9000", "RALLY_MAIL_RATE": "10", "RALLY_SYNC": "normal", "STRIPE_SECRET_KEY": "sk_env"}
	cfg, err := parseConfig(newFlagSet(), []string{"--addr", ":9100", "--stripe-secret-key", "sk_flag", "--base-url", "https://rally.example/"},
		func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":9100" || cfg.StripeSecret != "sk_flag" || cfg.MailRate != 10 || cfg.Sync != "normal" ||
		cfg.BaseURL != "https://rally.example" || !cfg.secure() || cfg.Data != "./rally-data" || !cfg.RateLimits {
		t.Errorf("config = %+v", cfg)
	}
	if cfg.TrustedProxies != nil {
		t.Errorf("trusted proxies by default: %v", cfg.TrustedProxies)
	}
	env["RALLY_TRUSTED_PROXIES"] = "127.0.0.1, 10.0.0.0/8 ::1"
	if cfg, err = parseConfig(newFlagSet(), nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.1", "10.0.0.0/8", "::1"}; !slices.Equal(cfg.TrustedProxies, want) {
		t.Errorf("trusted proxies %q, want %q", cfg.TrustedProxies, want)
	}
	env["RALLY_METRICS_TOKEN"] = "from-env"
	if cfg, err = parseConfig(newFlagSet(), []string{"--metrics-token", "from-flag"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.MetricsToken != "from-flag" {
		t.Errorf("metrics token %q, want the flag's", cfg.MetricsToken)
	}
	for _, bad := range [][]string{{"--sync", "off"}, {"--mail-rate", "-1"}, {"--base-url", "rally.example"}, {"--rate-limits", "maybe"},
		{"--trusted-proxies", "proxy.example"}, {"--trusted-proxies", "10.0.0.0/33"}} {
		if _, err := parseConfig(newFlagSet(), bad, func(string) string { return "" }); err == nil {
			t.Errorf("parseConfig(%v) accepted it", bad)
		}
	}
}
