package consent

// USPrivacy is a decoded IAB US Privacy string such as "1YNN". Each flag is 'Y',
// 'N' or '-' (not applicable).
type USPrivacy struct {
	Version     int
	Notice      byte // explicit notice given
	OptOutSale  byte // the user opted out of the sale of personal data
	LSPACovered byte // the transaction is covered by the IAB LSPA
}

// OptedOutOfSale reports the "1?Y?" case.
func (u USPrivacy) OptedOutOfSale() bool { return u.OptOutSale == 'Y' }

// DecodeUSPrivacy decodes a US Privacy string: version 1, then three flags, each
// Y, N or - (lower case is read as upper case).
func DecodeUSPrivacy(s string) (USPrivacy, error) {
	if len(s) != 4 || s[0] != '1' {
		return USPrivacy{}, malformed("us_privacy %q: want version 1 and three flags", s)
	}
	var f [3]byte
	for i := range f {
		c := s[i+1]
		switch c {
		case 'y', 'n':
			c -= 'a' - 'A'
		case 'Y', 'N', '-':
		default:
			return USPrivacy{}, malformed("us_privacy %q: flag %d is not Y, N or -", s, i+1)
		}
		f[i] = c
	}
	return USPrivacy{Version: 1, Notice: f[0], OptOutSale: f[1], LSPACovered: f[2]}, nil
}
