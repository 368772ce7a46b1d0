package campaigns

import "github.com/rallyhq/rally/notify"

// ErrInvalidEmail is returned for text that is not a usable email address
// (see notify.NormalizeEmail, which makes and compares addresses for every
// package).
var ErrInvalidEmail = notify.ErrInvalidEmail
