package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"asap/service/config"
)

// Errors of Authenticate; the API answers the first with 403, the others with 401.
var (
	ErrNoTokens     = errors.New("admin API disabled: ASAP_ADMIN_TOKENS is not set")
	ErrNoToken      = errors.New("no bearer token: send Authorization: Bearer <token> (a token of ASAP_ADMIN_TOKENS)")
	ErrUnknownToken = errors.New("the bearer token is not one of ASAP_ADMIN_TOKENS")
)

// Authenticate returns the name of the admin token that r's Authorization header
// carries (Bearer <token>). The comparison takes the same time whichever token, if
// any, matches and however much of one does: it compares SHA-256 digests, of equal
// length, with crypto/subtle, against every token without stopping at a match.
// Neither the token nor any part of it is in an error.
func Authenticate(tokens config.AdminTokens, r *http.Request) (name string, err error) {
	if len(tokens) == 0 {
		return "", ErrNoTokens
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", ErrNoToken
	}
	name, ok = match(tokens, strings.TrimSpace(token))
	if !ok {
		return "", ErrUnknownToken
	}
	return name, nil
}

// match finds the entry of tokens whose token is token, in constant time: every
// token is compared, and the loop has no branch on the outcome.
func match(tokens config.AdminTokens, token string) (name string, ok bool) {
	got := sha256.Sum256([]byte(token))
	found, index := 0, 0
	for i, t := range tokens {
		want := sha256.Sum256([]byte(t.Token))
		eq := subtle.ConstantTimeCompare(got[:], want[:])
		found |= eq
		index = subtle.ConstantTimeSelect(eq, i, index)
	}
	if found != 1 {
		return "", false
	}
	return tokens[index].Name, true
}
