package donations

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromium finds the browser for browser tests: $CHROMIUM, then chromium on
// PATH. Its absence fails the test: CI must install it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("browser tests need Chromium: apt-get install -y chromium (or set CHROMIUM to its path)")
	return ""
}

// TestBrowserDonate fills the donate form in a real browser, clicks Donate,
// and checks the browser is sent to the Checkout URL Stripe's API returned.
// Stripe's hosted page itself is not reachable from here, so the test reads
// the 303 and does not follow it.
func TestBrowserDonate(t *testing.T) {
	bin := chromium(t)
	e, stripeCalls := newEnvWithStripe(t)
	srv := httptest.NewServer(e.engine)
	defer srv.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-component-update", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelTimeout()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/c/"+testSlug+"/donate"),
		chromedp.SendKeys(chromedp.ID("donate-amount"), "12.50"),
		chromedp.Click(chromedp.ID("donate-monthly")),
	); err != nil {
		t.Fatal(err)
	}
	redirect, err := chromedp.Run(ctx, chromedp.WaitEvent(network.RequestWillBeSent,
		func(ev network.EventRequestWillBeSent) bool { return ev.RedirectResponse != nil },
		chromedp.Click(chromedp.CSS(`form[action="/c/`+testSlug+`/donate"] button[type=submit]`))))
	if err != nil {
		t.Fatal(err)
	}
	call := stripeCalls.last(t)
	stripeURL, _ := call.Response["url"].(string)
	if got := redirect.RedirectResponse.Status; got != http.StatusSeeOther {
		t.Errorf("Donate answered %d, want 303", got)
	}
	if redirect.Request.URL != stripeURL || stripeURL == "" {
		t.Errorf("browser sent to %q, want the Checkout URL Stripe returned, %q", redirect.Request.URL, stripeURL)
	}
	if call.Form.Get("mode") != "subscription" || call.Form.Get("line_items[0][price_data][unit_amount]") != "1250" {
		t.Errorf("Stripe was asked for mode %q, amount %q; want a monthly 1250",
			call.Form.Get("mode"), call.Form.Get("line_items[0][price_data][unit_amount]"))
	}
}
