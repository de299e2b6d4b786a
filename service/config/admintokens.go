package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// MinAdminTokenLength is the shortest admin token ASAP_ADMIN_TOKENS accepts.
const MinAdminTokenLength = 16

// AdminToken is one bearer token of the admin API and the name it is known by: the
// audit log records the name, never the token.
type AdminToken struct {
	Name  string
	Token string
}

// AdminTokens is the ASAP_ADMIN_TOKENS list: name:token pairs separated by commas.
// It implements envconfig.Decoder because envconfig's maps split on every ':' and
// would show the value in their errors; Decode's errors name entries by position
// and name, never by token. String and the fmt verbs print names only.
type AdminTokens []AdminToken

var adminTokenName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Decode parses name:token,name:token. A token is at least MinAdminTokenLength
// printable ASCII characters other than space and comma, and may hold ':' (only the
// first ':' of a pair ends its name). Names and tokens are each used once.
func (a *AdminTokens) Decode(value string) error {
	var out AdminTokens
	var errs []error
	names, tokens := map[string]bool{}, map[string]bool{}
	for i, pair := range strings.Split(value, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, token, ok := strings.Cut(pair, ":")
		switch {
		case !ok:
			// The pair may be a token alone: never show it.
			errs = append(errs, fmt.Errorf("entry %d: want name:token", i+1))
			continue
		case !adminTokenName.MatchString(name):
			errs = append(errs, fmt.Errorf("entry %d: the name must be 1 to 64 of [A-Za-z0-9_.-]", i+1))
			continue
		case len(token) < MinAdminTokenLength:
			errs = append(errs, fmt.Errorf("entry %d (%s): the token must be at least %d characters", i+1, name, MinAdminTokenLength))
			continue
		case strings.IndexFunc(token, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
			errs = append(errs, fmt.Errorf("entry %d (%s): the token must be printable ASCII without spaces", i+1, name))
			continue
		case names[name]:
			errs = append(errs, fmt.Errorf("entry %d: the name %s is used twice", i+1, name))
			continue
		case tokens[token]:
			errs = append(errs, fmt.Errorf("entry %d (%s): its token is another entry's too: each name needs its own", i+1, name))
			continue
		}
		names[name], tokens[token] = true, true
		out = append(out, AdminToken{Name: name, Token: token})
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	*a = out
	return nil
}

// String lists the names as name:***, hiding the tokens.
func (a AdminTokens) String() string {
	parts := make([]string, len(a))
	for i, t := range a {
		parts[i] = t.Name + ":***"
	}
	return strings.Join(parts, ",")
}

// GoString is String, so that %#v hides the tokens too.
func (a AdminTokens) GoString() string { return a.String() }

// Format prints String for every verb, so that no verb shows a token.
func (a AdminTokens) Format(f fmt.State, verb rune) { fmt.Fprint(f, a.String()) }
