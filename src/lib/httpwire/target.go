package httpwire

// Request-target forms (RFC 9112 §3.2): origin-form for every method, absolute-form (which a server MUST accept,
// §3.2.2), authority-form for CONNECT only (§3.2.3) and asterisk-form for OPTIONS only (§3.2.4).

var rootPath = []byte("/")

// TargetPath checks target's form for method and returns what a server routes on: the path and query of an
// origin-form or http(s) absolute-form target ("/" when the absolute form has an empty path; a query without a
// path is returned as "?query"), or the target itself for CONNECT's authority-form and OPTIONS' "*". ok is false
// for an invalid target, which RFC 9112 §3.2 answers with 400. The result aliases target (or a shared "/").
func TargetPath(method, target []byte) (path []byte, ok bool) {
	switch {
	case len(target) == 0:
		return nil, false
	case target[0] == '/':
		return target, validPath(target)
	case string(method) == "OPTIONS" && string(target) == "*":
		return target, true
	case string(method) == "CONNECT":
		// authority-form: uri-host ":" port, no userinfo.
		i := lastColon(target)
		return target, i > 0 && i < len(target)-1 && ValidHost(target)
	}
	return absolutePath(target)
}

// absolutePath accepts "http://" or "https://" (any case) authority path-abempty [ "?" query ].
func absolutePath(target []byte) ([]byte, bool) {
	rest := target
	switch {
	case len(rest) > 7 && equalFold(rest[:7], "http://"):
		rest = rest[7:]
	case len(rest) > 8 && equalFold(rest[:8], "https://"):
		rest = rest[8:]
	default:
		return nil, false
	}
	end := 0
	for end < len(rest) && rest[end] != '/' && rest[end] != '?' {
		end++
	}
	authority, path := rest[:end], rest[end:]
	// RFC 9110 §4.2.1: an http URI with an empty host MUST be rejected; §4.2.4: userinfo is treated as an error.
	if len(authority) == 0 || authority[0] == ':' || !ValidHost(authority) {
		return nil, false
	}
	if len(path) == 0 {
		return rootPath, true
	}
	return path, validPath(path)
}

// validPath checks path and query characters: pchar, "/", "?" and well-formed pct-encoding; no fragment.
func validPath(b []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '%' {
			if i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
				return false
			}
			i += 2
			continue
		}
		if !isPathChar[c] {
			return false
		}
	}
	return true
}

func lastColon(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ':' {
			return i
		}
		if b[i] == ']' {
			break
		}
	}
	return -1
}
