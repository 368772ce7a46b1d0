package notify

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	gomail "github.com/wneessen/go-mail"
)

// dkimHeaders are the headers every DKIM signature covers: those that say
// who a mail is from and to, what it is, and the unsubscribe headers, which
// mailbox providers want signed on bulk mail.
//
// go-mail v0.8.1 signs the DKIM-Signature header unfolded but writes it
// folded every 76 characters, in the middle of a tag if need be; a fold
// inside h= puts a space into a header name as a relaxed verifier reads
// it, and the signature fails. The list is kept short enough for h= to
// fit on one folded line: Reply-To, Content-Type and MIME-Version are left
// out (the body hash still covers every part).
var dkimHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"}

// DKIM signs every mail Rally sends for a domain (RALLY_DKIM_DOMAIN) with
// the key whose public half is published under a selector
// (RALLY_DKIM_SELECTOR) as a TXT record at
// SELECTOR._domainkey.DOMAIN (see Record).
type DKIM struct {
	Domain   string
	Selector string
	key      crypto.Signer
}

// NewDKIM checks a signing key (RSA, 1024 bits or more, or Ed25519).
func NewDKIM(domain, selector string, key crypto.Signer) (*DKIM, error) {
	if domain == "" || selector == "" || key == nil {
		return nil, errors.New("dkim: a domain, a selector and a key are all needed")
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("dkim: an RSA key of %d bits is too short (want 2048)", k.N.BitLen())
		}
	case ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("dkim: a %T key cannot sign (want RSA or Ed25519)", key)
	}
	return &DKIM{Domain: domain, Selector: selector, key: key}, nil
}

// LoadDKIM reads a PEM private key (PKCS #1 or PKCS #8) from keyFile.
func LoadDKIM(domain, selector, keyFile string) (*DKIM, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	key, err := gomail.PrivKeyFromPEM(b)
	if err != nil {
		return nil, fmt.Errorf("dkim: %s: %w", keyFile, err)
	}
	return NewDKIM(domain, selector, key)
}

// RecordName is where the public key is published: SELECTOR._domainkey.DOMAIN.
func (d *DKIM) RecordName() string { return d.Selector + "._domainkey." + d.Domain }

// Record is the TXT record to publish at RecordName.
func (d *DKIM) Record() string {
	switch k := d.key.Public().(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k)
	default:
		der, _ := x509.MarshalPKIXPublicKey(k)
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	}
}

// signer returns a go-mail signer for one message. A signer learns its
// algorithm on first use, so each message gets its own rather than share
// one across the sending goroutines.
func (d *DKIM) signer() *gomail.DKIMSigner {
	s := gomail.NewDKIMSigner(d.Domain, d.Selector, d.key)
	s.SignHeaders(dkimHeaders...)
	return s
}
