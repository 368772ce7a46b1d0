package donations

import (
	"errors"
	"strings"

	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// DonateForm is the data of the "donate-form" partial
// (templates/partials/donate_form.html). Include it with
//
//	{{template "donate-form" .Data.Donate}}
//
// where Donate is the *DonateForm from Handler.DonateForm; a nil form
// (donations off, or a cause nobody may see) renders nothing. The form
// translates itself, so it needs nothing from the page. Set Totals to show
// what was raised, the number of donors and the goal bar above the form.
type DonateForm struct {
	Action   string // where the form posts: /c/{slug}/donate
	Currency string // lower-case ISO code
	Symbol   string
	Presets  []Preset
	Amount   string // the amount typed, as typed
	Monthly  bool
	Email    string
	Errors   map[string]string // field name → sentence, in the form's language
	Problem  string            // a sentence above the form, e.g. Stripe could not be reached
	Totals   *Totals           // optional: what the cause has raised

	lang string
	cat  *templates.Catalogue
}

// Preset is one of the amounts offered as a choice.
type Preset struct {
	Value   string // in major units, as posted
	Label   string // formatted with the currency
	Checked bool
}

// T translates id into the form's language.
func (f *DonateForm) T(id string, args ...any) string { return f.cat.T(f.lang, id, args...) }

// Money formats minor units of the form's currency: €12.50, 12,50 €.
func (f *DonateForm) Money(minor int64) string { return formatMoney(f.cat, f.lang, minor, f.Currency) }

// Min is the smallest gift the form takes, formatted.
func (f *DonateForm) Min() string { return f.Money(currencies[f.Currency].min) }

// Max is the largest gift the form takes, formatted.
func (f *DonateForm) Max() string { return f.Money(currencies[f.Currency].max) }

func newDonateForm(cat *templates.Catalogue, lang, cur, slug string) *DonateForm {
	info := currencies[cur]
	f := &DonateForm{Action: "/c/" + slug + "/donate", Currency: cur, Symbol: info.symbol, lang: lang, cat: cat,
		Errors: map[string]string{}}
	for i, p := range info.presets {
		f.Presets = append(f.Presets, Preset{Value: formatMajor(p, cur), Label: formatMoney(cat, lang, p, cur), Checked: i == 1})
	}
	return f
}

// donateInput is the donate form as posted (the contract's fields, plus
// the preset radio buttons of Rally's own form).
type donateInput struct {
	Amount  string `form:"amount"`
	Preset  string `form:"preset"`
	Monthly string `form:"monthly"`
	Email   string `form:"email"`
}

// donateRequest is what a valid form asks for.
type donateRequest struct {
	AmountMinor int64
	Monthly     bool
	Email       string
}

// validate reads the form. A typed amount wins over the preset chosen; the
// problems come back as catalogue ids per field.
func (in donateInput) validate(cur string) (donateRequest, map[string]string) {
	var req donateRequest
	errs := map[string]string{}
	amount := strings.TrimSpace(in.Amount)
	if amount == "" {
		amount = strings.TrimSpace(in.Preset)
	}
	if amount == "" {
		errs["amount"] = "DonateErrAmountMissing"
	} else {
		minor, err := ParseAmount(amount, cur)
		switch {
		case err == nil:
			req.AmountMinor = minor
		case errors.Is(err, ErrAmountTooSmall):
			errs["amount"] = "DonateErrAmountTooSmall"
		case errors.Is(err, ErrAmountTooLarge):
			errs["amount"] = "DonateErrAmountTooLarge"
		case errors.Is(err, ErrAmountDecimals) && currencies[cur].decimals == 0:
			errs["amount"] = "DonateErrAmountWhole"
		case errors.Is(err, ErrAmountDecimals):
			errs["amount"] = "DonateErrAmountDecimals"
		default:
			errs["amount"] = "DonateErrAmountFormat"
		}
	}
	req.Monthly = templates.Ticked(in.Monthly)
	if e := strings.TrimSpace(in.Email); e != "" {
		norm, err := notify.NormalizeEmail(e)
		if err != nil {
			errs["email"] = "DonateErrEmail"
		}
		req.Email = norm
	}
	return req, errs
}

// refill puts what was posted back into the form, with the problems
// translated next to their fields.
func (f *DonateForm) refill(in donateInput, errs map[string]string) {
	f.Amount, f.Email = strings.TrimSpace(in.Amount), strings.TrimSpace(in.Email)
	f.Monthly = templates.Ticked(in.Monthly)
	for i := range f.Presets {
		f.Presets[i].Checked = f.Amount == "" && f.Presets[i].Value == strings.TrimSpace(in.Preset)
	}
	for field, id := range errs {
		f.Errors[field] = f.T(id, "Min", f.Min(), "Max", f.Max())
	}
}
