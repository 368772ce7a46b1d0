package campaigns

import (
	"html/template"
	"sort"
	"strings"
	"sync"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// countryCodes are the ISO 3166-1 alpha-2 codes a signer may choose.
var countryCodes = strings.Fields(`AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT
MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW`)

var countrySet = func() map[string]bool {
	m := make(map[string]bool, len(countryCodes))
	for _, c := range countryCodes {
		m[c] = true
	}
	return m
}()

// IsCountry reports whether code is a country a signer may choose.
func IsCountry(code string) bool { return countrySet[code] }

// Country is a code and its name in one language.
type Country struct {
	Code string
	Name string
}

var (
	countryLists sync.Map // lang → []Country, sorted by name
	countryHTML  sync.Map // lang+"/"+selected → template.HTML of <option>s
)

// Countries returns every country with its name in lang, sorted by name as
// that language sorts.
func Countries(lang string) []Country {
	if v, ok := countryLists.Load(lang); ok {
		return v.([]Country)
	}
	tag := language.Make(lang)
	namer := display.Regions(tag)
	list := make([]Country, 0, len(countryCodes))
	for _, code := range countryCodes {
		name := code
		if r, err := language.ParseRegion(code); err == nil {
			if n := namer.Name(r); n != "" {
				name = n
			}
		}
		list = append(list, Country{Code: code, Name: name})
	}
	col := collate.New(tag)
	sort.Slice(list, func(i, j int) bool { return col.CompareString(list[i].Name, list[j].Name) < 0 })
	countryLists.Store(lang, list)
	return list
}

// CountryName returns a country's name in lang, or the code if unknown.
func CountryName(lang, code string) string {
	r, err := language.ParseRegion(code)
	if err != nil {
		return code
	}
	if n := display.Regions(language.Make(lang)).Name(r); n != "" {
		return n
	}
	return code
}

// CountryOptions returns the <option> elements of the country select in lang
// with selected chosen. Rendering two hundred options through html/template on
// every request costs more than the rest of the page, so each (language,
// selection) pair is built once.
func CountryOptions(lang, selected string) template.HTML {
	key := lang + "/" + selected
	if v, ok := countryHTML.Load(key); ok {
		return v.(template.HTML)
	}
	var b strings.Builder
	for _, c := range Countries(lang) {
		b.WriteString(`<option value="`)
		b.WriteString(c.Code)
		b.WriteByte('"')
		if c.Code == selected {
			b.WriteString(" selected")
		}
		b.WriteByte('>')
		b.WriteString(template.HTMLEscapeString(c.Name))
		b.WriteString("</option>")
	}
	h := template.HTML(b.String())
	if IsCountry(selected) || selected == "" {
		countryHTML.Store(key, h)
	}
	return h
}

// DefaultCountry guesses the signer's country from Accept-Language (en-GB →
// GB), then from the page's language.
func DefaultCountry(lang, acceptLanguage string) string {
	if tags, _, err := language.ParseAcceptLanguage(acceptLanguage); err == nil {
		for _, t := range tags {
			if r, conf := t.Region(); conf == language.Exact && IsCountry(r.String()) {
				return r.String()
			}
		}
	}
	if lang == "fr" {
		return "FR"
	}
	return "GB"
}
