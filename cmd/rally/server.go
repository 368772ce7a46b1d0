package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rallyhq/rally/campaigns"
	"github.com/rallyhq/rally/cmd/rally/database"
	"github.com/rallyhq/rally/donations"
	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/static"
	"github.com/rallyhq/rally/templates"
)

// app is a wired Rally: its database pools, stores, handlers and mail worker.
type app struct {
	cfg       config
	writer    *sql.DB
	reader    *sql.DB
	rdr       *templates.Renderer
	store     *campaigns.Store
	donations *donations.Store
	dcfg      donations.Config
	accounts  *campaigns.Accounts
	worker    *notify.Worker
	blasts    *notify.Blasts
	sender    notify.Sender
	engine    *gin.Engine
	mailDir   string
	budget    *memoryBudget // Go's memory limit, when Rally sets it
	secret    []byte        // RALLY_SECRET, or the one kept in the data folder
}

// migrationSets lists every package's migrations in dependency order.
func migrationSets() []database.Set {
	return []database.Set{
		{Name: "campaigns", FS: campaigns.Migrations(), Steps: campaigns.DataMigrations()},
		{Name: "notify", FS: notify.Migrations()},
		{Name: "donations", FS: donations.Migrations()},
	}
}

// newApp opens the database, applies migrations and wires every package.
func newApp(ctx context.Context, cfg config) (*app, error) {
	writer, reader, err := database.Open(cfg.Data, cfg.Sync)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, writer: writer, reader: reader}
	if _, err := database.Migrate(ctx, writer, migrationSets()...); err != nil {
		a.close()
		return nil, err
	}
	if a.rdr, err = templates.New(); err != nil {
		a.close()
		return nil, err
	}
	notify.MessageDomain = cfg.host()
	a.rdr.BaseURL = cfg.BaseURL
	if a.secret, err = loadSecret(cfg); err != nil {
		a.close()
		return nil, err
	}
	a.mailDir = filepath.Join(cfg.Data, "mail")
	if cfg.SMTPURL != "" {
		a.sender, err = notify.NewSMTPSender(cfg.SMTPURL, cfg.MailFrom)
	} else {
		a.sender, err = notify.NewDevOutbox(a.mailDir, cfg.MailFrom)
	}
	if err != nil {
		a.close()
		return nil, fmt.Errorf("mail: %w", err)
	}
	if cfg.DKIMDomain != "" {
		dkim, err := notify.LoadDKIM(cfg.DKIMDomain, cfg.DKIMSelector, cfg.DKIMKeyFile)
		if err != nil {
			a.close()
			return nil, err
		}
		a.sender.(interface{ SetDKIM(*notify.DKIM) }).SetDKIM(dkim)
		slog.Info("mail is DKIM-signed; publish this TXT record", slog.String("name", dkim.RecordName()), slog.String("value", dkim.Record()))
	}
	a.store = campaigns.NewStore(writer, reader)
	if cfg.RateLimits {
		a.store.SetHoldLimits(campaigns.HoldLimits{PerNetwork: cfg.HoldPerNetwork, PerDomain: cfg.HoldPerDomain})
	}
	a.blasts = notify.NewBlasts(writer, reader, a.rdr, campaigns.NewBlastAudience(a.store, cfg.BaseURL), notify.BlastConfig{
		BaseURL: cfg.BaseURL, Secret: a.secret, MailFrom: cfg.MailFrom, DKIMDomain: cfg.DKIMDomain,
		DKIMSelector: cfg.DKIMSelector, DailyCap: cfg.BlastDailyCap})
	a.worker = notify.NewWorker(writer, a.sender, notify.WorkerOptions{Rate: cfg.MailRate, Conns: cfg.SMTPConns, Reader: reader,
		Renderer: a.rdr, Blasts: a.blasts, SuppressionKey: a.suppressionKey})
	// A confirmation changes who a blast of the cause would go to.
	a.store.OnChange(func(ch campaigns.Change) { a.blasts.AudienceChanged(ch.CauseID) })
	a.dcfg = donations.Config{SecretKey: cfg.StripeSecret, WebhookSecret: cfg.StripeWebhook,
		APIBase: cfg.StripeAPIBase, Currency: cfg.Currency, BaseURL: cfg.BaseURL}
	if err := a.dcfg.Validate(); err != nil {
		a.close()
		return nil, fmt.Errorf("donations: %w", err)
	}
	a.accounts = campaigns.NewAccounts(a.store, a.rdr, campaigns.AccountsConfig{BaseURL: cfg.BaseURL, SecureCookies: cfg.secure()})
	if a.engine, err = a.routes(); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// adminPrefix is where pages for admins only are mounted, on a group
// behind campaigns.Accounts.RequireAdmin. The authorisation test holds
// every route under it to that: anyone else signed in gets 403.
const adminPrefix = "/admin"

func (a *app) routes() (*gin.Engine, error) {
	e := gin.New()
	// Behind a reverse proxy every connection comes from the proxy: only the
	// proxies named in the configuration may say who the client is; by
	// default none, so a client cannot forge its address.
	if err := e.SetTrustedProxies(a.cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("RALLY_TRUSTED_PROXIES: %w", err)
	}
	// Only X-Forwarded-For, which Caddy and nginx's
	// $proxy_add_x_forwarded_for append to: a proxy that passes a client's
	// own X-Real-IP along unchanged would let the client pick its address.
	e.RemoteIPHeaders = []string{"X-Forwarded-For"}
	e.HandleMethodNotAllowed = false
	// Assets are mounted before the middleware: they need no language,
	// session or error page, only the headers static.Handler sets.
	e.GET(static.Prefix+"*file", static.Handler())
	e.Use(recovery(), requestLog(), securityHeaders(), templates.LanguageMiddleware(a.cfg.secure()),
		errorPagesMiddleware(a.rdr), crossOrigin(),
		limitBody(64<<10, map[string]int64{"/campaigns/": campaigns.MaxImageBytes + 256<<10, "/webhooks/": 1 << 20}),
		limitPosts(a.cfg.RateLimits), a.accounts.LoadSession())
	e.NoRoute(func(c *gin.Context) { c.AbortWithStatus(http.StatusNotFound) })

	e.GET("/healthz", a.healthz)
	e.GET("/metrics", metricsHandler(a.cfg))
	if a.cfg.SMTPURL == "" {
		notify.DevMailRoutes(e, a.rdr, a.mailDir, devMailAccess(a.cfg))
	}

	a.donations = donations.NewStore(a.writer, a.reader)
	dh := donations.NewHandler(a.dcfg, a.donations, a.store, a.rdr)
	h := campaigns.NewHandler(a.store, a.rdr, campaigns.HandlerConfig{
		BaseURL: a.cfg.BaseURL, UploadDir: filepath.Join(a.cfg.Data, "uploads"), ContactEmail: a.cfg.ContactEmail,
		Donations: donationsForCauses{h: dh, s: a.donations}, Secret: a.secret, RetentionDays: a.cfg.RetentionDays,
		// An update the organiser asks to mail becomes a draft blast.
		UpdateMail: a.blasts,
		// What the other features hold on a person, for the privacy
		// requests: donations' ledger, then the mails and suppression.
		PersonalData: []campaigns.PersonalData{a.donations.Personal(),
			notify.PersonalData{Reader: a.reader, Secret: a.secret, Renderer: a.rdr, DevMailDir: a.devMailDir()}}})
	h.PublicRoutes(e)
	dh.PublicRoutes(e)
	a.blasts.PublicRoutes(e)
	a.accounts.Routes(e)
	org := e.Group("", a.accounts.RequireOrganiser())
	a.accounts.OrganiserRoutes(org)
	h.OrganiserRoutes(org)
	dh.OrganiserRoutes(org, h.OwnsCause)
	h.AdminRoutes(e.Group(adminPrefix, a.accounts.RequireAdmin()))
	a.blasts.OrganiserRoutes(org, h.OwnsCause, currentOrganiser)
	a.blasts.AdminRoutes(e.Group(adminPrefix, a.accounts.RequireAdmin()))
	return e, nil
}

// devMailDir is the dev outbox's folder, or "" when mail goes out by SMTP.
func (a *app) devMailDir() string {
	if a.cfg.SMTPURL != "" {
		return ""
	}
	return a.mailDir
}

// suppressionKey is the suppression list's key for an address (see
// notify.SuppressionKey): the mail worker checks it before bulk mail.
func (a *app) suppressionKey(addr string) string {
	return notify.SuppressionKey(a.secret, notify.EmailKey(addr))
}

// currentOrganiser is campaigns.CurrentOrganiser as blasts need it.
func currentOrganiser(c *gin.Context) (notify.Organiser, bool) {
	o, ok := campaigns.CurrentOrganiser(c)
	return notify.Organiser{ID: o.ID, Name: o.Name, Email: o.Email, Confirmed: o.EmailConfirmed(), Admin: o.Admin}, ok
}

func (a *app) healthz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := a.reader.PingContext(ctx); err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (a *app) close() {
	if a.store != nil {
		a.store.Close()
	}
	if a.reader != nil {
		a.reader.Close()
	}
	if a.writer != nil {
		a.writer.Close()
	}
}

// serve runs the HTTP server, the mail worker and the closing job until ctx
// is cancelled, then shuts down gracefully.
func (a *app) serve(ctx context.Context) error {
	srv := &http.Server{
		Addr:              a.cfg.Addr,
		Handler:           a.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	if a.budget != nil {
		srv.ConnState = a.budget.track
	}
	workCtx, stopWork := context.WithCancel(context.Background())
	done := make(chan struct{}, 4)
	go func() {
		database.Checkpoints(workCtx, a.cfg.Data, a.cfg.Sync)
		done <- struct{}{}
	}()
	go func() {
		if err := a.worker.Run(workCtx); err != nil && workCtx.Err() == nil {
			slog.Error("mail worker stopped", slog.Any("error", err))
		}
		done <- struct{}{}
	}()
	go func() {
		a.housekeeping(workCtx)
		done <- struct{}{}
	}()
	go func() {
		a.blasts.Run(workCtx)
		done <- struct{}{}
	}()

	errc := make(chan error, 1)
	go func() {
		slog.Info("listening", slog.String("addr", a.cfg.Addr), slog.String("base_url", a.cfg.BaseURL))
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			errc <- err
		}
		close(errc)
	}()
	select {
	case err := <-errc:
		stopWork()
		for range cap(done) {
			<-done
		}
		return err
	case <-ctx.Done():
	}
	slog.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	stopWork()
	for range cap(done) {
		<-done
	}
	return err
}

// housekeeping closes causes past their end date, once a minute, and once
// an hour: deletes the signatures never confirmed whose link expired long
// ago (see campaigns.UnconfirmedKept), clears the networks of signatures
// older than campaigns.NetworkKept, anonymises the signers of causes closed
// longer than RALLY_RETENTION_DAYS, and deletes expired privacy requests.
func (a *app) housekeeping(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var forgotten int64 // signatures up to this id have been looked at
	var networks int64  // signatures up to this id have no network left
	var lastForget time.Time
	for {
		if n, err := a.store.CloseExpired(ctx); err != nil && ctx.Err() == nil {
			slog.Error("close expired causes", slog.Any("error", err))
		} else if n > 0 {
			slog.Info("closed causes past their end date", slog.Int64("count", n))
		}
		if time.Since(lastForget) >= time.Hour {
			next, n, err := a.store.ForgetUnconfirmed(ctx, forgotten)
			forgotten = next
			if err != nil && ctx.Err() == nil {
				slog.Error("forget unconfirmed signatures", slog.Any("error", err))
			} else if err == nil {
				lastForget = time.Now()
			}
			if n > 0 {
				slog.Info("deleted signatures never confirmed", slog.Int64("count", n))
			}
			a.forgetHourly(ctx, &networks)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// forgetHourly runs the hourly jobs that forget what Rally keeps only for
// a while; networks is where ForgetNetworks goes on from.
func (a *app) forgetHourly(ctx context.Context, networks *int64) {
	next, n, err := a.store.ForgetNetworks(ctx, *networks)
	*networks = next
	if err != nil && ctx.Err() == nil {
		slog.Error("forget signing networks", slog.Any("error", err))
	} else if n > 0 {
		slog.Info("cleared the networks of old signatures", slog.Int64("count", n))
	}
	causes, sigs, err := a.store.ForgetClosed(ctx, time.Duration(a.cfg.RetentionDays)*24*time.Hour)
	if err != nil && ctx.Err() == nil {
		slog.Error("anonymise the signers of closed causes", slog.Any("error", err))
	}
	if causes > 0 {
		slog.Info("anonymised the signers of causes closed long ago", slog.Int64("causes", causes), slog.Int64("signatures", sigs),
			slog.Int("retention_days", a.cfg.RetentionDays))
	}
	if _, err := a.store.ForgetPrivacyRequests(ctx); err != nil && ctx.Err() == nil {
		slog.Error("forget privacy requests", slog.Any("error", err))
	}
}

// logStartup says where the database is and where mail goes (donations.NewHandler
// has said whether donations are on).
func (a *app) logStartup() {
	abs, _ := filepath.Abs(database.Path(a.cfg.Data))
	slog.Info("database", slog.String("path", abs), slog.String("synchronous", strings.ToUpper(a.cfg.Sync)))
	if a.cfg.SMTPURL == "" {
		dir, _ := filepath.Abs(a.mailDir)
		slog.Info("mail goes to the dev outbox", slog.String("folder", dir), slog.String("browse", a.cfg.BaseURL+"/dev/mail"))
	} else {
		slog.Info("mail goes out by SMTP", slog.String("sender", fmt.Sprint(a.sender)))
	}
}
