package conformance

import (
	"strconv"
	"strings"
)

// Case is one row of docs/conformance.md: a raw request, what the RFC allows, and what each engine answers.
type Case struct {
	ID          string    // subtest name: TestNetpoll/<ID>, TestGoroutine/<ID>, TestNginx/<ID>
	Clause      string    // RFC and section
	Level       string    // MUST, SHOULD, MAY, or "rule" (a definition the clause states without a keyword)
	Requirement string    // the requirement in a few words
	Demands     string    // what the RFC asks of the server
	Raw         string    // the bytes written to the socket
	Allowed     []outcome // outcomes the RFC permits
	Comet       outcome   // both comet engines (comet answers as the RFC says: one of Allowed)
	Goroutine   outcome   // the goroutine engine where net/http differs ("" = Comet)
	GoNote      string    // why the goroutine engine differs
	Nginx       outcome   // nginx 1.22 + nchan 1.3.6, as measured
	NginxNote   string
}

// goroutineOutcome is the goroutine engine's column: comet's unless net/http answers otherwise.
func goroutineOutcome(c *Case) outcome {
	if c.Goroutine != "" {
		return c.Goroutine
	}
	return c.Comet
}

// sub is the target of every row: nchan's subscriber location, and a held /sub poll on comet.
const sub = "/sub?id=conformance"

// get builds "GET /sub… HTTP/1.1" with a Host and the extra field lines.
func get(extra ...string) string {
	return "GET " + sub + " HTTP/1.1\r\nHost: c\r\n" + strings.Join(extra, "") + "\r\n"
}

// Cases is the table. Order: RFC 9112 by section, then RFC 9110 by section.
var Cases = []Case{
	{ID: "bare-cr-in-field", Clause: "RFC 9112 §2.2", Level: "MUST", Requirement: "bare CR in a field value",
		Demands: "treat the element as invalid, or replace each bare CR with SP",
		Raw:     get("X-A: a\rb\r\n"), Allowed: []outcome{"400 close", "400 open", "served open"},
		Comet: "400 close", Nginx: "400 close"},
	{ID: "space-before-first-field", Clause: "RFC 9112 §2.2", Level: "MUST",
		Requirement: "whitespace between start-line and first field",
		Demands:     "reject the message, or ignore each whitespace-preceded line",
		Raw:         "GET " + sub + " HTTP/1.1\r\n X-A: b\r\nHost: c\r\n\r\n",
		Allowed:     []outcome{"400 close", "400 open", "served open"}, Comet: "400 close", Nginx: "400 close"},
	{ID: "leading-empty-line", Clause: "RFC 9112 §2.2", Level: "SHOULD", Requirement: "CRLF before the request-line",
		Demands: "ignore at least one empty line before the request-line",
		Raw:     "\r\n" + get(), Allowed: []outcome{"served open"}, Comet: "served open", Goroutine: "400 close", GoNote: "net/http does not skip an empty line before the request-line",
		Nginx: "served open"},
	{ID: "bare-lf", Clause: "RFC 9112 §2.2", Level: "MAY", Requirement: "LF without CR as line terminator",
		Demands: "may recognise a bare LF; otherwise the message is invalid (400)",
		Raw:     "GET " + sub + " HTTP/1.1\nHost: c\n\n", Allowed: []outcome{"400 close", "400 open", "served open"},
		Comet: "400 close", Goroutine: "served open", GoNote: "net/http accepts a bare LF (allowed)",
		Nginx: "served open", NginxNote: "accepts a bare LF (allowed)"},
	{ID: "garbage", Clause: "RFC 9112 §2.2", Level: "SHOULD", Requirement: "octets that are not HTTP (a TLS hello)",
		Demands: "400 and close the connection",
		Raw:     "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", Allowed: []outcome{"400 close"},
		Comet: "400 close", Nginx: "400 close"},
	{ID: "target-too-long", Clause: "RFC 9112 §3", Level: "MUST", Requirement: "request-target longer than the server parses",
		Demands: "414 (URI Too Long)",
		Raw:     "GET " + sub + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: c\r\n\r\n",
		Allowed: []outcome{"414 close", "414 open"}, Comet: "414 close", Nginx: "414 close"},
	{ID: "method-too-long", Clause: "RFC 9112 §3", Level: "SHOULD", Requirement: "method longer than any implemented",
		Demands: "501 (Not Implemented)",
		Raw:     strings.Repeat("M", 9000) + " " + sub + " HTTP/1.1\r\nHost: c\r\n\r\n",
		Allowed: []outcome{"501 close", "501 open"}, Comet: "501 close", Nginx: "414 close", NginxNote: "414, not 501"},
	{ID: "double-space", Clause: "RFC 9112 §3, §3.2", Level: "MAY", Requirement: "two SP between method and target",
		Demands: "may parse on runs of whitespace (§3); else an invalid request-line: 400 (SHOULD, §3.2)",
		Raw:     "GET  " + sub + " HTTP/1.1\r\nHost: c\r\n\r\n", Allowed: []outcome{"400 close", "400 open", "served open"},
		Comet: "400 close", Nginx: "served open", NginxNote: "parses on runs of spaces (allowed)"},
	{ID: "fragment-in-target", Clause: "RFC 9112 §3.2", Level: "SHOULD", Requirement: "'#' in the request-target",
		Demands: "400: origin-form has no fragment",
		Raw:     "GET " + sub + "#f HTTP/1.1\r\nHost: c\r\n\r\n", Allowed: []outcome{"400 close", "400 open"},
		Comet: "400 close", Nginx: "served open", NginxNote: "drops the fragment"},
	{ID: "no-version", Clause: "RFC 9112 §3.2", Level: "SHOULD", Requirement: "request-line without HTTP-version (HTTP/0.9)",
		Demands: "400",
		Raw:     "GET " + sub + "\r\n\r\n", Allowed: []outcome{"400 close", "400 open"}, Comet: "400 close", Nginx: "close", NginxNote: "takes it as HTTP/0.9 and closes without an answer"},
	{ID: "asterisk-form-get", Clause: "RFC 9112 §3.2.4", Level: "SHOULD", Requirement: "asterisk-form with a method other than OPTIONS",
		Demands: "400: \"*\" is a target for OPTIONS only (an invalid request-line, §3.2)", Raw: "GET * HTTP/1.1\r\nHost: c\r\n\r\n",
		Allowed: []outcome{"400 close", "400 open"}, Comet: "400 close", Nginx: "400 close"},
	{ID: "host-missing", Clause: "RFC 9112 §3.2", Level: "MUST", Requirement: "HTTP/1.1 request without Host",
		Demands: "400", Raw: "GET " + sub + " HTTP/1.1\r\n\r\n", Allowed: []outcome{"400 close", "400 open"},
		Comet: "400 close", Nginx: "400 close"},
	{ID: "host-twice", Clause: "RFC 9112 §3.2", Level: "MUST", Requirement: "more than one Host field line",
		Demands: "400", Raw: get("Host: c\r\n"), Allowed: []outcome{"400 close", "400 open"},
		Comet: "400 close", Nginx: "400 close"},
	{ID: "host-invalid", Clause: "RFC 9112 §3.2", Level: "MUST", Requirement: "Host value not uri-host [\":\" port]",
		Demands: "400", Raw: "GET " + sub + " HTTP/1.1\r\nHost: c:8x\r\n\r\n",
		Allowed: []outcome{"400 close", "400 open"}, Comet: "400 close", Nginx: "served open", NginxNote: "does not check the port"},
	{ID: "absolute-form", Clause: "RFC 9112 §3.2.2", Level: "MUST", Requirement: "absolute-form request-target",
		Demands: "accept it (the target's authority wins over Host)",
		Raw:     "GET http://c" + sub + " HTTP/1.1\r\nHost: c\r\n\r\n", Allowed: []outcome{"served open"},
		Comet: "served open", Nginx: "served open"},
	{ID: "space-before-colon", Clause: "RFC 9112 §5.1", Level: "MUST", Requirement: "whitespace between field name and colon",
		Demands: "400", Raw: "GET " + sub + " HTTP/1.1\r\nHost : c\r\n\r\n",
		Allowed: []outcome{"400 close", "400 open"}, Comet: "400 close", Nginx: "400 close"},
	{ID: "obs-fold", Clause: "RFC 9112 §5.2", Level: "MUST", Requirement: "obsolete line folding",
		Demands: "400, or replace each obs-fold with SP", Raw: get("X-A: a\r\n b\r\n"),
		Allowed: []outcome{"400 close", "400 open", "served open"}, Comet: "400 close", Goroutine: "served open", GoNote: "net/http replaces the fold with SP (allowed)",
		Nginx: "400 close"},
	{ID: "te-in-http10", Clause: "RFC 9112 §6.1", Level: "MUST", Requirement: "Transfer-Encoding in an HTTP/1.0 request",
		Demands: "treat the framing as faulty and close the connection after processing",
		Raw:     "GET " + sub + " HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		Allowed: []outcome{"400 close", "served close"}, Comet: "400 close", Goroutine: "served 400 close", GoNote: "net/http ignores Transfer-Encoding in HTTP/1.0, keeps the connection and parses the chunk as the next request",
		Nginx: "400 close"},
	{ID: "cl-and-te", Clause: "RFC 9112 §6.1", Level: "MUST", Requirement: "both Content-Length and Transfer-Encoding",
		Demands: "may reject (400) or use Transfer-Encoding; either way close the connection after responding",
		Raw:     get("Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n") + "0\r\n\r\n",
		Allowed: []outcome{"4xx close", "served close"}, Comet: "400 close", Goroutine: "413 close", GoNote: "net/http drops Content-Length and frames by Transfer-Encoding; the handler refuses the chunked body",
		Nginx: "400 close"},
	{ID: "te-unknown-coding", Clause: "RFC 9112 §6.1", Level: "SHOULD", Requirement: "transfer coding the server does not understand",
		Demands: "501 (Not Implemented)", Raw: get("Transfer-Encoding: x-foo, chunked\r\n") + "0\r\n\r\n",
		Allowed: []outcome{"501 close", "501 open"}, Comet: "501 close", Nginx: "501 close"},
	{ID: "chunked-body-on-get", Clause: "RFC 9112 §6.1", Level: "MUST", Requirement: "chunked request body (on GET)",
		Demands: "parse the chunked coding; the server may refuse the content (413)",
		Raw:     get("Transfer-Encoding: chunked\r\n") + "0\r\n\r\n",
		Allowed: []outcome{"served open", "413 close"}, Comet: "413 close", Nginx: "served 400 close", NginxNote: "nchan does not read the chunked body: its bytes are parsed as a next request"},
	{ID: "te-not-chunked", Clause: "RFC 9112 §6.3", Level: "MUST", Requirement: "Transfer-Encoding whose final coding is not chunked",
		Demands: "400 and close the connection", Raw: get("Transfer-Encoding: gzip\r\n"),
		Allowed: []outcome{"400 close"}, Comet: "400 close", Goroutine: "501 close", GoNote: "net/http answers 501 for any coding but chunked before any handler runs",
		Nginx: "501 close", NginxNote: "501 instead of 400"},
	{ID: "cl-invalid", Clause: "RFC 9112 §6.3", Level: "MUST", Requirement: "invalid Content-Length",
		Demands: "400 and close the connection", Raw: get("Content-Length: 1x\r\n"),
		Allowed: []outcome{"400 close"}, Comet: "400 close", Nginx: "400 close"},
	{ID: "cl-list-differs", Clause: "RFC 9112 §6.3", Level: "MUST", Requirement: "Content-Length list of different values",
		Demands: "400 and close the connection", Raw: get("Content-Length: 0, 1\r\n"),
		Allowed: []outcome{"400 close"}, Comet: "400 close", Nginx: "400 close"},
	{ID: "cl-list-same", Clause: "RFC 9112 §6.3, RFC 9110 §8.6", Level: "MAY", Requirement: "Content-Length list of one value",
		Demands: "process it with that value, or reject it as invalid", Raw: get("Content-Length: 0, 0\r\n"),
		Allowed: []outcome{"served open", "400 close", "400 open"}, Comet: "served open", Goroutine: "400 close", GoNote: "net/http rejects a Content-Length list (allowed)",
		Nginx: "400 close", NginxNote: "rejects the list (allowed)"},
	{ID: "unread-body", Clause: "RFC 9112 §9.3", Level: "MUST", Requirement: "a body the server does not want",
		Demands: "read the whole body or close the connection after the response (the body is not the next request)",
		Raw:     get("Content-Length: "+strconv.Itoa(len(get()))+"\r\n") + get(),
		Allowed: []outcome{"413 close", "served open", "served close", "4xx close"}, Comet: "413 close", Nginx: "served served open", NginxNote: "the unread body is parsed as a second request (request smuggling)"},
	{ID: "pipelined-in-order", Clause: "RFC 9112 §9.3.2", Level: "MUST", Requirement: "pipelined requests",
		Demands: "answer in the order received (here: the held poll, then the Host-less request's 400)",
		Raw:     get() + "GET " + sub + " HTTP/1.1\r\n\r\n",
		Allowed: []outcome{"served 400 close", "served 400 open"}, Comet: "served 400 close", Nginx: "served 400 close"},
	{ID: "keep-alive-default", Clause: "RFC 9112 §9.3", Level: "SHOULD", Requirement: "HTTP/1.1 request without Connection",
		Demands: "the connection persists after the response", Raw: get(),
		Allowed: []outcome{"served open"}, Comet: "served open", Nginx: "served open"},
	{ID: "http10-closes", Clause: "RFC 9112 §9.3", Level: "rule", Requirement: "HTTP/1.0 request without keep-alive",
		Demands: "the connection closes after the response", Raw: "GET " + sub + " HTTP/1.0\r\n\r\n",
		Allowed: []outcome{"served close"}, Comet: "served close", Nginx: "served close"},
	{ID: "connection-close", Clause: "RFC 9112 §9.6", Level: "MUST", Requirement: "Connection: close",
		Demands: "close the connection after the final response", Raw: get("Connection: close\r\n"),
		Allowed: []outcome{"served close"}, Comet: "served close", Nginx: "served close"},
	{ID: "nothing-after-close", Clause: "RFC 9112 §9.6", Level: "MUST", Requirement: "request pipelined after Connection: close",
		Demands: "process no further request on the connection", Raw: get("Connection: close\r\n") + get(),
		Allowed: []outcome{"served close"}, Comet: "served close", Nginx: "served close"},

	{ID: "minor-version-above", Clause: "RFC 9110 §6.2", Level: "SHOULD", Requirement: "HTTP/1.2",
		Demands: "process it as HTTP/1.1", Raw: "GET " + sub + " HTTP/1.2\r\nHost: c\r\n\r\n",
		Allowed: []outcome{"served open"}, Comet: "served open", Nginx: "served open"},
	{ID: "major-version-2", Clause: "RFC 9110 §6.2, §15.6.6", Level: "MAY", Requirement: "HTTP/2.0 in an HTTP/1 request-line",
		Demands: "a server can refuse the major version with 505", Raw: "GET " + sub + " HTTP/2.0\r\nHost: c\r\n\r\n",
		Allowed: []outcome{"505 close", "505 open", "400 close", "400 open"}, Comet: "505 close", Nginx: "505 close"},
	{ID: "http-uri-empty-host", Clause: "RFC 9110 §4.2.1", Level: "MUST", Requirement: "http URI with an empty host",
		Demands: "reject it as invalid (400)", Raw: "GET http://" + sub + " HTTP/1.1\r\nHost: c\r\n\r\n",
		Allowed: []outcome{"400 close", "400 open"}, Comet: "400 close", Nginx: "400 close"},
	{ID: "https-target-without-tls", Clause: "RFC 9110 §7.4", Level: "MUST", Requirement: "https target URI on a plain connection",
		Demands: "reject it (the connection is not secured for that origin); 421 Misdirected Request fits",
		Raw:     "GET https://c" + sub + " HTTP/1.1\r\nHost: c\r\n\r\n", Allowed: []outcome{"4xx close", "4xx open"},
		Comet: "421 close", Nginx: "served open", NginxNote: "serves an https URI on a plain connection"},
	{ID: "field-too-large", Clause: "RFC 9110 §5.4", Level: "MUST", Requirement: "field line larger than the server processes",
		Demands: "an appropriate 4xx", Raw: get("X-Big: " + strings.Repeat("b", 16<<10) + "\r\n"),
		Allowed: []outcome{"4xx close", "4xx open"}, Comet: "431 close", Nginx: "400 close", NginxNote: "400 Request Header Or Cookie Too Large"},
	{ID: "too-many-fields", Clause: "RFC 9110 §5.4", Level: "MUST", Requirement: "10,000 field lines",
		Demands: "an appropriate 4xx", Raw: get(strings.Repeat("X-S: 1\r\n", 10000)),
		Allowed: []outcome{"4xx close", "4xx open"}, Comet: "431 close", Nginx: "400 close", NginxNote: "400 Request Header Or Cookie Too Large"},
	{ID: "nul-in-field", Clause: "RFC 9110 §5.5", Level: "MUST", Requirement: "NUL in a field value",
		Demands: "reject the message, or replace each NUL with SP", Raw: get("X-A: a\x00b\r\n"),
		Allowed: []outcome{"400 close", "400 open", "served open"}, Comet: "400 close", Nginx: "400 close"},
	{ID: "content-length-overflow", Clause: "RFC 9110 §8.6", Level: "MUST", Requirement: "Content-Length beyond 64 bits",
		Demands: "no integer overflow: the number is valid, the content too large (413) or refused",
		Raw:     get("Content-Length: 99999999999999999999999\r\n"),
		Allowed: []outcome{"413 close", "400 close"}, Comet: "413 close", Goroutine: "400 close", GoNote: "net/http calls the number malformed (allowed)",
		Nginx: "400 close"},
	{ID: "unknown-method", Clause: "RFC 9110 §9.1", Level: "SHOULD", Requirement: "method not implemented",
		Demands: "501 (Not Implemented)", Raw: "BREW " + sub + " HTTP/1.1\r\nHost: c\r\n\r\n",
		Allowed: []outcome{"501 close", "501 open"}, Comet: "501 close", Nginx: "open", NginxNote: "nchan holds an unknown method and never answers it (its subscriber timeout does not fire)"},
	{ID: "method-case", Clause: "RFC 9110 §9.1", Level: "SHOULD", Requirement: "lower-case \"get\" (methods are case-sensitive)",
		Demands: "501: an unknown method", Raw: "get " + sub + " HTTP/1.1\r\nHost: c\r\n\r\n",
		Allowed: []outcome{"501 close", "501 open"}, Comet: "501 close", Nginx: "400 close", NginxNote: "400, not 501"},
	{ID: "method-not-allowed", Clause: "RFC 9110 §9.1, §15.5.6", Level: "SHOULD", Requirement: "implemented method not allowed here (POST)",
		Demands: "405, which MUST carry Allow (§15.5.6)", Raw: "POST " + sub + " HTTP/1.1\r\nHost: c\r\nContent-Length: 0\r\n\r\n",
		Allowed: []outcome{"405+Allow close", "405+Allow open"}, Comet: "405+Allow close", Nginx: "403 open", NginxNote: "nchan answers POST on a subscriber location 403 Forbidden (no 405, so no Allow)"},
	{ID: "head-no-content", Clause: "RFC 9110 §9.1, §9.3.2", Level: "MUST", Requirement: "HEAD, twice on one connection",
		Demands: "support HEAD: GET's answer without content (nothing after the head: the next answer parses)",
		Raw:     "HEAD " + sub + " HTTP/1.1\r\nHost: c\r\n\r\n" + "HEAD " + sub + " HTTP/1.1\r\nHost: c\r\n\r\n",
		Allowed: []outcome{"served served open"}, Comet: "served served open", Nginx: "open", NginxNote: "nchan holds a HEAD poll and never answers it (its subscriber timeout does not fire)"},
	{ID: "expect-unknown", Clause: "RFC 9110 §10.1.1", Level: "MAY", Requirement: "Expect other than 100-continue",
		Demands: "may answer 417 (Expectation Failed)", Raw: get("Expect: teapot\r\n"),
		Allowed: []outcome{"417 close", "417 open", "served open"}, Comet: "417 close", Nginx: "served open", NginxNote: "ignores it (allowed)"},
	{ID: "expect-in-http10", Clause: "RFC 9110 §10.1.1", Level: "MUST", Requirement: "100-continue in an HTTP/1.0 request",
		Demands: "ignore the expectation", Raw: "GET " + sub + " HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
		Allowed: []outcome{"served close"}, Comet: "served close", Nginx: "served close"},
	{ID: "expect-final-status", Clause: "RFC 9110 §10.1.1", Level: "MUST", Requirement: "100-continue, content the server refuses",
		Demands: "an immediate final status, or an immediate 100 (Continue)",
		Raw:     get("Expect: 100-continue\r\n", "Content-Length: 5\r\n"),
		Allowed: []outcome{"4xx close", "4xx open", "100 open"}, Comet: "413 close", Nginx: "served open", NginxNote: "neither 100 (Continue) nor an immediate final status: nchan holds the poll and never reads the body"},
}
