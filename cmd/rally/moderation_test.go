package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/rallyhq/rally/campaigns"
)

var withdrawLink = regexp.MustCompile(`/withdraw/([A-Za-z0-9_-]+)`)

// publicCount is the count a cause's public JSON shows.
func (ta *testApp) publicCount(slug string) int64 {
	ta.t.Helper()
	r := ta.do(ta.client(), "GET", "/c/"+slug+".json", nil)
	var j struct {
		Count int64 `json:"signature_count"`
	}
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &j) != nil {
		ta.t.Fatalf("JSON of %s: status %d, %s", slug, r.status, r.body)
	}
	return j.Count
}

// TestHoldsFollowTheConfiguration: with the rate limits on, signings of a
// cause past RALLY_HOLD_PER_NETWORK from one network are held (kept,
// mailed, not counted); RALLY_RATE_LIMITS=off lifts the holds with the
// other limits, for load tests.
func TestHoldsFollowTheConfiguration(t *testing.T) {
	for _, tt := range []struct {
		name   string
		limits string
		want   int64 // counted of 4 confirmed signings
	}{
		{"limits on", "on", 2},
		{"limits off", "off", 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ta := newTestApp(t, map[string]string{"RALLY_RATE_LIMITS": tt.limits, "RALLY_HOLD_PER_NETWORK": "2"})
			org, _ := ta.organiser("Olive", "olive@example.org", false)
			slug := ta.publishedCause(org, "Clean air")
			for i := range 4 {
				addr := fmt.Sprintf("signer%d@example.org", i)
				if r := ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm("Signer", addr)); r.status != http.StatusOK {
					t.Fatalf("sign %s: status %d", addr, r.status)
				}
				ta.confirmFor(addr) // every signer gets their mail, held or not
			}
			if got := ta.publicCount(slug); got != tt.want {
				t.Errorf("public count = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestReportsAreRateLimited: one address may send a few reports, then
// gets 429 and nothing more is kept.
func TestReportsAreRateLimited(t *testing.T) {
	ta := newTestApp(t, nil)
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	slug := ta.publishedCause(org, "Clean air")
	visitor := ta.client()
	for i := range 5 {
		if r := ta.do(visitor, "POST", "/c/"+slug+"/report", url.Values{"reason": {"Spam"}}); r.status != http.StatusOK {
			t.Fatalf("report %d: status %d", i+1, r.status)
		}
	}
	if r := ta.do(visitor, "POST", "/c/"+slug+"/report", url.Values{"reason": {"Spam"}}); r.status != http.StatusTooManyRequests {
		t.Errorf("6th report: status %d, want 429", r.status)
	}
	if n := ta.count(`SELECT count(*) FROM cause_reports`); n != 5 {
		t.Errorf("%d reports kept, want 5", n)
	}
}

// TestAdminSeesUnusualActivity: a burst of signings of a cause from one
// network with one domain shows on the admin's page of the cause, by
// network and by domain, with how many; taking the domain out of the count
// from there drops the public count at once, and undoing it restores it.
func TestAdminSeesUnusualActivity(t *testing.T) {
	ta := newTestApp(t, map[string]string{"RALLY_RATE_LIMITS": "off"})
	org, _ := ta.organiser("Olive", "olive@example.org", false)
	admin, _ := ta.organiser("Ada", "ada-admin@example.org", true)
	slug := ta.publishedCause(org, "Clean air")
	for i := range 12 {
		addr := fmt.Sprintf("bot%d@bots.example", i)
		ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm("Bot", addr))
		ta.confirmFor(addr)
	}
	ta.do(ta.client(), "POST", "/c/"+slug+"/sign", signForm("Real Person", "real@example.org"))
	ta.confirmFor("real@example.org")

	page := ta.do(admin, "GET", "/admin/causes/"+slug, nil)
	if page.status != http.StatusOK {
		t.Fatalf("admin cause page: status %d", page.status)
	}
	for _, want := range []string{"127.0.0.0/24", "bots.example"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the admin's page of the cause does not show the burst from %s", want)
		}
	}
	if strings.Contains(page.body, "real@example.org") {
		t.Errorf("a single signer is shown as unusual activity")
	}
	if r := ta.do(org, "GET", "/admin/causes/"+slug, nil); r.status != http.StatusForbidden {
		t.Errorf("an organiser who is not an admin: status %d, want 403", r.status)
	}
	if r := ta.do(admin, "POST", "/admin/causes/"+slug+"/invalidate", url.Values{"domain": {"bots.example"}, "reason": {"a burst"}}); r.status != http.StatusSeeOther {
		t.Fatalf("invalidate: status %d\n%s", r.status, r.body)
	}
	if got := ta.publicCount(slug); got != 1 {
		t.Errorf("public count after taking out bots.example = %d, want 1", got)
	}
	id := ta.count(`SELECT id FROM invalidations`)
	if r := ta.do(admin, "POST", "/admin/causes/"+slug+"/undo", url.Values{"invalidation": {fmt.Sprint(id)}}); r.status != http.StatusSeeOther {
		t.Fatalf("undo: status %d", r.status)
	}
	if got := ta.publicCount(slug); got != 13 {
		t.Errorf("public count after undoing = %d, want 13", got)
	}
}

// moderationSite holds what the pages of moderation and of people's rights
// need in the browser tests' site: an admin with a report to read, held
// signatures, an invalidation and a hidden cause, and the links of a copy,
// a deletion and a withdrawal.
type moderationSite struct {
	hidden                 string // slug of a cause an admin hid
	export, erase, retract string // paths of mailed links
	gone                   string // a withdraw link whose signature is gone
}

const uiAdminEmail = "ada-admin@example.org"

func setUpModeration(t *testing.T, ta *testApp, org *http.Client, open string) moderationSite {
	t.Helper()
	var m moderationSite
	admin, _ := ta.organiser("Ada Admin", uiAdminEmail, true)
	visitor := ta.client()
	if r := ta.do(visitor, "POST", "/c/"+open+"/report", url.Values{"reason": {"The body names a private person."}, "email": {"reporter@example.org"}}); r.status != http.StatusOK {
		t.Fatalf("report: status %d", r.status)
	}
	ta.store.SetHoldLimits(campaigns.HoldLimits{PerNetwork: 2})
	for i := range 4 {
		ta.signingToken(visitor, open, "Held Signer", fmt.Sprintf("held%d@bots.example", i))
	}
	ta.store.SetHoldLimits(campaigns.HoldLimits{})
	if r := ta.do(admin, "POST", "/admin/causes/"+open+"/invalidate", url.Values{"domain": {"spam.example"}, "reason": {"a bot farm"}}); r.status != http.StatusSeeOther {
		t.Fatalf("invalidate: status %d", r.status)
	}
	m.hidden = ta.publishedCause(org, "A cause an admin hid")
	if r := ta.do(admin, "POST", "/admin/causes/"+m.hidden+"/hide", url.Values{"reason": {"It names a private person."}}); r.status != http.StatusSeeOther {
		t.Fatalf("hide: status %d", r.status)
	}
	m.export = ta.privacyRequest("elodie@example.org", "export")
	m.erase = ta.privacyRequest("john@example.org", "delete")
	ta.signingToken(visitor, open, "Wendy Withdraw", "wendy@example.org")
	m.retract = withdrawLink.FindString(ta.lastMailTo("wendy@example.org"))
	ta.signingToken(visitor, open, "Gus Gone", "gus@example.org")
	m.gone = withdrawLink.FindString(ta.lastMailTo("gus@example.org"))
	if m.retract == "" || m.gone == "" {
		t.Fatal("no withdraw link mailed")
	}
	if r := ta.do(visitor, "POST", m.gone, nil); r.status != http.StatusOK {
		t.Fatalf("withdraw: status %d", r.status)
	}
	return m
}

// moderationVisitorPages are the pages of reporting a cause and of a
// person's rights over their data.
func (s *uiSite) moderationVisitorPages() []uiPage {
	base := s.ta.srv.URL
	return []uiPage{
		{"report a cause", chromedp.Navigate(base + "/c/" + s.open + "/report")},
		{"report with errors", chromedp.Steps(
			chromedp.Navigate(base+"/c/"+s.open+"/report"),
			chromedp.SetAttributeValue(chromedp.CSS(`main form`), "novalidate", ""),
			submit(`main form button[type=submit]`),
		)},
		{"privacy request sent", chromedp.Steps(
			chromedp.Navigate(base+"/privacy"),
			chromedp.SendKeys(chromedp.CSS(`form[action="/privacy/request"] input[name=email]`), "ada@example.org"),
			submit(`form[action="/privacy/request"] button[type=submit]`),
		)},
		{"privacy export link", chromedp.Navigate(base + s.mod.export)},
		{"privacy delete link", chromedp.Navigate(base + s.mod.erase)},
		{"privacy bad link", chromedp.Navigate(base + s.mod.erase[:len(s.mod.erase)-4] + "xxxx")},
		{"withdraw", chromedp.Navigate(base + s.mod.retract)},
		{"withdraw, gone", chromedp.Navigate(base + s.mod.gone)},
	}
}

// adminPages are the admins' pages, and what the organiser of a hidden
// cause sees of it; the browser must be logged in as the admin.
func (s *uiSite) adminPages() []uiPage {
	base := s.ta.srv.URL
	return []uiPage{
		{"admin", chromedp.Navigate(base + "/admin")},
		{"admin cause", chromedp.Navigate(base + "/admin/causes/" + s.open)},
		{"admin hidden cause", chromedp.Navigate(base + "/admin/causes/" + s.mod.hidden)},
		{"admin invalidation with errors", chromedp.Steps(
			chromedp.Navigate(base+"/admin/causes/"+s.open),
			// The form asks "are you sure?" in a dialog: the answer is yes.
			chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				_, err := chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)(ctx, t)
				return err
			}),
			chromedp.SendKeys(chromedp.ID("network"), "not a network"),
			submit(`form:has(#network) button[type=submit]`),
		)},
		{"hidden cause overview", chromedp.Navigate(base + "/campaigns/" + s.mod.hidden)},
		{"hidden cause page", chromedp.Navigate(base + "/c/" + s.mod.hidden)},
	}
}

// eachAdminPage logs the browser in as the admin, opens every admin page,
// calls check on each, and logs out.
func (s *uiSite) eachAdminPage(t *testing.T, ctx context.Context, check func(name string)) {
	t.Helper()
	login := chromedp.Steps(
		chromedp.Navigate(s.ta.srv.URL+"/login"),
		chromedp.SendKeys(chromedp.ID("email"), uiAdminEmail),
		chromedp.SendKeys(chromedp.ID("password"), uiPassword),
		submit(`form[action^="/login"] button[type=submit]`),
	)
	if err := chromedp.Do(ctx, login); err != nil {
		t.Fatalf("log in as admin: %v", err)
	}
	for _, p := range s.adminPages() {
		if err := chromedp.Do(ctx, p.open); err != nil {
			t.Fatalf("open %s: %v", p.name, err)
		}
		check(p.name)
	}
	if err := chromedp.Do(ctx, s.logOut()); err != nil {
		t.Fatalf("log out: %v", err)
	}
}

// keepModerationPages adds the pages of reporting, people's rights and
// moderation, in lang, to the markup check.
func keepModerationPages(t *testing.T, ta *testApp, keep func(string, resp, int), lang, slug string) {
	t.Helper()
	visitor := ta.client()
	q := "?lang=" + lang
	keep("report-"+lang, ta.do(visitor, "GET", "/c/"+slug+"/report"+q, nil), http.StatusOK)
	keep("report-errors-"+lang, ta.do(visitor, "POST", "/c/"+slug+"/report"+q, url.Values{"reason": {""}, "email": {"nope"}}), http.StatusUnprocessableEntity)
	keep("reported-"+lang, ta.do(visitor, "POST", "/c/"+slug+"/report"+q, url.Values{"reason": {"Spam"}}), http.StatusOK)
	keep("privacy-request-errors-"+lang, ta.do(visitor, "POST", "/privacy/request"+q, url.Values{"email": {"nope"}, "kind": {"export"}}), http.StatusUnprocessableEntity)
	addr := "rights-" + lang + "@example.org"
	keep("privacy-request-sent-"+lang, ta.do(visitor, "POST", "/privacy/request"+q, url.Values{"email": {addr}, "kind": {"export"}, "lang": {lang}}), http.StatusOK)
	export := privacyLink.FindString(ta.lastMailTo(addr))
	if export == "" {
		t.Fatalf("%s: no privacy link mailed", lang)
	}
	keep("privacy-export-"+lang, ta.do(visitor, "GET", export+q, nil), http.StatusOK)
	ta.do(visitor, "POST", "/privacy/request"+q, url.Values{"email": {addr}, "kind": {"delete"}, "lang": {lang}})
	erase := privacyLink.FindString(ta.lastMailTo(addr))
	keep("privacy-delete-"+lang, ta.do(visitor, "GET", erase+q, nil), http.StatusOK)
	keep("privacy-deleted-"+lang, ta.do(visitor, "POST", erase+q, url.Values{}), http.StatusOK)
	keep("privacy-used-link-"+lang, ta.do(visitor, "GET", erase+q, nil), http.StatusNotFound)
	signer := "withdraw-" + lang + "@example.org"
	ta.signingToken(visitor, slug, "Wendy Withdraw", signer)
	retract := withdrawLink.FindString(ta.lastMailTo(signer))
	keep("withdraw-"+lang, ta.do(visitor, "GET", retract+q, nil), http.StatusOK)
	keep("withdrawn-"+lang, ta.do(visitor, "POST", retract+q, url.Values{}), http.StatusOK)
	keep("withdraw-gone-"+lang, ta.do(visitor, "GET", retract+q, nil), http.StatusNotFound)
}

// keepAdminPages adds the admins' pages, and the hidden cause as its
// organiser sees it, to the markup check.
func keepAdminPages(t *testing.T, ta *testApp, keep func(string, resp, int), org, admin *http.Client, slug string) {
	t.Helper()
	ta.store.SetHoldLimits(campaigns.HoldLimits{PerNetwork: 1})
	for i := range 3 {
		ta.signingToken(ta.client(), slug, "Held Signer", fmt.Sprintf("held%d@bots.example", i))
	}
	ta.store.SetHoldLimits(campaigns.HoldLimits{})
	ta.do(admin, "POST", "/admin/causes/"+slug+"/invalidate", url.Values{"domain": {"spam.example"}, "reason": {"a bot farm"}})
	keep("admin", ta.do(admin, "GET", "/admin", nil), http.StatusOK)
	keep("admin-cause", ta.do(admin, "GET", "/admin/causes/"+slug, nil), http.StatusOK)
	keep("admin-invalidate-errors", ta.do(admin, "POST", "/admin/causes/"+slug+"/invalidate", url.Values{"network": {"not a network"}}), http.StatusUnprocessableEntity)
	keep("admin-hide-errors", ta.do(admin, "POST", "/admin/causes/"+slug+"/hide", url.Values{"reason": {""}}), http.StatusUnprocessableEntity)
	hidden := ta.publishedCause(org, "A cause an admin hid")
	if r := ta.do(admin, "POST", "/admin/causes/"+hidden+"/hide", url.Values{"reason": {"It names a private person."}}); r.status != http.StatusSeeOther {
		t.Fatalf("hide: status %d", r.status)
	}
	keep("admin-hidden-cause", ta.do(admin, "GET", "/admin/causes/"+hidden, nil), http.StatusOK)
	keep("hidden-overview", ta.do(org, "GET", "/campaigns/"+hidden, nil), http.StatusOK)
	keep("hidden-cause-page", ta.do(org, "GET", "/c/"+hidden, nil), http.StatusOK)
}
