package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestBlastSignFinishes runs -blast with -blast-sign as a user would: it
// signs alone, sends a blast, signs again while the blast is under way and
// ends once the blast and every signing's confirmation have reached the
// sink, each blast recipient once.
func TestBlastSignFinishes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts Rally")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := buildForTest(ctx, t)
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"-rally-bin", bin, "-blast", "600", "-smtp-conns", "2", "-blast-sign",
		"-duration", "1s", "-c", "4"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	if !regexp.MustCompile(`blast: 600 recipients sent in .*, status sent, 0 duplicates`).MatchString(text) {
		t.Errorf("the blast did not go to all 600 once:\n%s", text)
	}
	for _, name := range []string{"signing alone", "signing during the blast"} {
		m := regexp.MustCompile(`(?m)^` + name + ` \(4 connections\): (\d+) req/s, .* errors (\d+)`).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("no line for %s:\n%s", name, text)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n == 0 || m[2] != "0" {
			t.Errorf("%s: %s req/s with %s errors, want some and none", name, m[1], m[2])
		}
	}
	if !regexp.MustCompile(`the blast meanwhile: \d+ messages in those .*; 0 confirmations sent twice`).MatchString(text) {
		t.Errorf("no account of the blast during the signing:\n%s", text)
	}
}
