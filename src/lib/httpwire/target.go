package httpwire

// Request-target forms (RFC 9112 §3.2): origin-form for every method, absolute-form (which a server MUST accept,
// §3.2.2), authority-form for CONNECT only (§3.2.3) and asterisk-form for OPTIONS only (§3.2.4).

var rootPath = []byte("/")

// TargetPath checks target's form for method and returns what a server routes on: the path and query of an
// origin-form or http absolute-form target ("/" when the absolute form has an empty path; a query without a path
// is returned as "?query"), or the target itself for CONNECT's authority-form and OPTIONS' "*". status is 0 for a
// target to serve, 400 for an invalid one (RFC 9112 §3.2) and 421 for an https target, which a server without TLS
// MUST reject (RFC 9110 §7.4). The result aliases target (or a shared "/").
func TargetPath(method, target []byte) (path []byte, status int) {
	ok := false
	switch {
	case len(target) == 0:
	case target[0] == '/':
		path, ok = target, validPath(target)
	case string(method) == "OPTIONS" && string(target) == "*":
		path, ok = target, true
	case string(method) == "CONNECT":
		// authority-form: uri-host ":" port, no userinfo.
		i := lastColon(target)
		path, ok = target, i > 0 && i < len(target)-1 && ValidHost(target)
	default:
		var https bool
		path, https, ok = absolutePath(target)
		if ok && https {
			return nil, 421
		}
	}
	if !ok {
		return nil, 400
	}
	return path, 0
}

// absolutePath accepts "http://" or "https://" (any case) authority path-abempty [ "?" query ].
func absolutePath(target []byte) (path []byte, https, ok bool) {
	rest := target
	switch {
	case len(rest) > 7 && equalFold(rest[:7], "http://"):
		rest = rest[7:]
	case len(rest) > 8 && equalFold(rest[:8], "https://"):
		rest, https = rest[8:], true
	default:
		return nil, false, false
	}
	end := 0
	for end < len(rest) && rest[end] != '/' && rest[end] != '?' {
		end++
	}
	authority, path := rest[:end], rest[end:]
	// RFC 9110 §4.2.1: an http URI with an empty host MUST be rejected; §4.2.4: userinfo is treated as an error.
	if len(authority) == 0 || authority[0] == ':' || !ValidHost(authority) {
		return nil, https, false
	}
	if len(path) == 0 {
		return rootPath, https, true
	}
	return path, https, validPath(path)
}

// validPath checks path and query characters: pchar, "/", "?" and well-formed pct-encoding; no fragment.
func validPath(b []byte) bool { return validPctEncoded(b, &isPathChar) }

// validPctEncoded reports whether every byte of b is allowed or part of a well-formed %XX escape.
func validPctEncoded(b []byte, allowed *[256]bool) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '%' {
			if i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
				return false
			}
			i += 2
			continue
		}
		if !allowed[c] {
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
