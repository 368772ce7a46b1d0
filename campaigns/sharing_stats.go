package campaigns

import (
	"context"
	"html/template"

	"github.com/rallyhq/rally/templates"
)

// sharingData is the sharing part of a cause's organiser page: where its
// signatures came from, who brought the most, and what to share it with.
type sharingData struct {
	Slug     string
	URL      string
	Channels []channelView
	// MaxChannel is the largest count, the bars' full length.
	MaxChannel int64
	Top        []TopRecruiter
	// Embed is the snippet that embeds the sign form in another site.
	Embed string
}

// channelView is a channel named in the page's language.
type channelView struct {
	Name  string
	Count int64
}

// channelNames are the message ids naming the channels Rally's own links
// use; other channels (a newsletter's utm_source) show as named.
var channelNames = map[string]string{
	"": "ChannelDirect", SourceLink: "ChannelLink", SourceQR: "ChannelQR", SourceEmbed: "ChannelEmbed",
	SourceShare: "ChannelShare", "whatsapp": "ShareWhatsApp", "telegram": "ShareTelegram", "facebook": "ShareFacebook",
	"x": "ShareX", "bluesky": "ShareBluesky", "linkedin": "ShareLinkedIn", "email": "ShareEmail",
}

// sharing gathers the sharing part of the organiser's page of a cause.
func (h *Handler) sharing(ctx context.Context, lang string, cz Cause) (*sharingData, error) {
	st, err := h.store.SharingStats(ctx, cz.ID)
	if err != nil {
		return nil, err
	}
	top, err := h.store.TopRecruiters(ctx, cz.ID, 10)
	if err != nil {
		return nil, err
	}
	d := &sharingData{Slug: cz.Slug, URL: h.causeURL(cz), Top: top,
		Embed: h.embedSnippet(lang, cz)}
	for _, ch := range st.Channels {
		name := ch.Source
		if id, ok := channelNames[ch.Source]; ok {
			name = h.rdr.Catalogue.T(lang, id)
		}
		d.Channels = append(d.Channels, channelView{Name: name, Count: ch.Count})
		d.MaxChannel = max(d.MaxChannel, ch.Count)
	}
	return d, nil
}

// embedSnippet is the HTML an organiser pastes into another site to
// embed the cause's sign form.
func (h *Handler) embedSnippet(lang string, cz Cause) string {
	src := h.causeURL(cz) + "/embed"
	if lang != templates.Languages[0] {
		src += "?lang=" + lang
	}
	title := h.rdr.Catalogue.T(lang, "EmbedFrameTitle", "Title", cz.Title)
	return `<iframe src="` + template.HTMLEscapeString(src) + `" title="` + template.HTMLEscapeString(title) +
		`" width="100%" height="640" style="border:0;max-width:28rem" loading="lazy"></iframe>`
}
