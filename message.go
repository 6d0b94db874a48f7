package watan

import (
	"regexp"
	"sort"
	"strings"
	"sync"
)

// A Msg is a sentence the system writes for people (a timeline entry, the reason an
// order waits) as a code and its parameters, so that each reader gets it in their
// own language: the dashboard renders it in English or Arabic, the API and the logs
// carry its English text (String). Parameters are data, never translated words:
// names, numbers, references, and codes that the renderer translates by the
// parameter's name (see ParamKind).
type Msg struct {
	Code   string            `json:"code"`
	Params map[string]string `json:"params,omitempty"`
}

// M builds a Msg from its code and name/value pairs. An odd trailing name is
// dropped. Empty values are kept out, so that the template's optional part that
// mentions them is left out too (no "-" placeholders, no dangling colons).
func M(code string, kv ...string) Msg {
	m := Msg{Code: code}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if m.Params == nil {
			m.Params = map[string]string{}
		}
		m.Params[kv[i]] = kv[i+1]
	}
	return m
}

// String is the message in English.
func (m Msg) String() string { return m.In("en") }

// In renders the message as plain text in lang ("en" or "ar"; anything else is
// English). Parameters are filled in as they are; coded parameters (ParamKind)
// are translated. A code missing from the catalogue renders as the code.
func (m Msg) In(lang string) string {
	return RenderMsg(lang, m, func(name, value string) string {
		switch ParamKind(name) {
		case KindStatus:
			return MsgText(lang, "status."+value)
		case KindState:
			return MsgText(lang, "state."+value)
		case KindOutcome:
			return MsgText(lang, "outcome."+value)
		case KindNested:
			if n, ok := ParseMsg(value); ok {
				return n.In(lang)
			}
		}
		return value
	})
}

// Parameter kinds, by the parameter's name: how a renderer shows the value.
const (
	KindPlain    = iota // a name, number, reference or date: shown as it is, isolated
	KindStatus          // an order status code: translated
	KindState           // a provider state code: translated
	KindOutcome         // a provider answer's outcome code: translated
	KindProvider        // the provider's own words: shown verbatim and marked as theirs
	KindUser            // an operator's own words (a note): shown verbatim, isolated
	KindNested          // another message's English text (a reason): translated when it is one
)

// ParamKind tells how the parameter called name is shown. The names are a
// convention of the catalogue: from, to and status are statuses; state a provider
// state; outcome an answer's outcome; said the provider's words; detail an error's
// text (verbatim, like the provider's); note an operator's note or a nested
// message; why and what nested messages.
func ParamKind(name string) int {
	switch name {
	case "from", "to", "status":
		return KindStatus
	case "state":
		return KindState
	case "outcome":
		return KindOutcome
	case "said", "detail":
		return KindProvider
	case "note", "why", "what":
		return KindNested
	}
	return KindPlain
}

// RenderMsg fills m's template in lang, asking fill for each parameter's text
// (already escaped, for HTML, if the caller renders HTML). Parts of the template in
// [brackets] are left out when a parameter they mention is empty.
func RenderMsg(lang string, m Msg, fill func(name, value string) string) string {
	tpl, ok := lookupMsg(lang, m.Code)
	if !ok {
		return m.Code
	}
	return expand(tpl, m.Params, fill, escapeNothing)
}

// RenderMsgHTML is RenderMsg for HTML: the template's own words are escaped with
// esc, the parameters by fill.
func RenderMsgHTML(lang string, m Msg, fill func(name, value string) string, esc func(string) string) string {
	tpl, ok := lookupMsg(lang, m.Code)
	if !ok {
		return esc(m.Code)
	}
	return expand(tpl, m.Params, fill, esc)
}

func escapeNothing(s string) string { return s }

func lookupMsg(lang, code string) (string, bool) {
	if s, ok := Messages[lang][code]; ok {
		return s, true
	}
	s, ok := Messages["en"][code]
	return s, ok
}

// MsgText is the catalogue's text for key in lang, falling back to English and then
// to the key.
func MsgText(lang, key string) string {
	if s, ok := lookupMsg(lang, key); ok {
		return s
	}
	return key
}

// expand fills tpl: {name} is a parameter, [ ... ] an optional part (not nested).
func expand(tpl string, params map[string]string, fill func(name, value string) string, esc func(string) string) string {
	var out strings.Builder
	var opt strings.Builder
	inOpt, optOK := false, true
	lit := func(s string) {
		if inOpt {
			opt.WriteString(esc(s))
		} else {
			out.WriteString(esc(s))
		}
	}
	for i := 0; i < len(tpl); {
		switch c := tpl[i]; {
		case c == '[':
			inOpt, optOK = true, true
			opt.Reset()
			i++
		case c == ']' && inOpt:
			if optOK {
				out.WriteString(opt.String())
			}
			inOpt = false
			i++
		case c == '{':
			end := strings.IndexByte(tpl[i:], '}')
			if end < 0 {
				lit(tpl[i:])
				i = len(tpl)
				continue
			}
			name := tpl[i+1 : i+end]
			v := params[name]
			if v == "" {
				optOK = false
			} else if inOpt {
				opt.WriteString(fill(name, v))
			} else {
				out.WriteString(fill(name, v))
			}
			i += end + 1
		default:
			j := i + 1
			for j < len(tpl) && !strings.ContainsRune("[]{", rune(tpl[j])) {
				j++
			}
			lit(tpl[i:j])
			i = j
		}
	}
	return out.String()
}

// parsers are the English templates as regular expressions, for ParseMsg.
var parsers = sync.OnceValue(func() []msgParser {
	var ps []msgParser
	codes := make([]string, 0, len(Messages["en"]))
	for code := range Messages["en"] {
		if strings.Contains(code, ".") && !strings.HasPrefix(code, "status.") && !strings.HasPrefix(code, "state.") && !strings.HasPrefix(code, "outcome.") {
			codes = append(codes, code)
		}
	}
	// Longer templates first: the more specific wins when two could match.
	sort.Slice(codes, func(i, j int) bool {
		a, b := Messages["en"][codes[i]], Messages["en"][codes[j]]
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return codes[i] < codes[j]
	})
	for _, code := range codes {
		tpl := Messages["en"][code]
		var re strings.Builder
		var names []string
		re.WriteString(`^`)
		for i := 0; i < len(tpl); {
			switch c := tpl[i]; c {
			case '[':
				re.WriteString(`(?:`)
				i++
			case ']':
				re.WriteString(`)?`)
				i++
			case '{':
				end := strings.IndexByte(tpl[i:], '}')
				names = append(names, tpl[i+1:i+end])
				re.WriteString(`(.+?)`)
				i += end + 1
			default:
				j := i + 1
				for j < len(tpl) && !strings.ContainsRune("[]{", rune(tpl[j])) {
					j++
				}
				re.WriteString(regexp.QuoteMeta(tpl[i:j]))
				i = j
			}
		}
		re.WriteString(`$`)
		ps = append(ps, msgParser{code: code, re: regexp.MustCompile(re.String()), names: names})
	}
	return ps
})

type msgParser struct {
	code  string
	re    *regexp.Regexp
	names []string
}

// ParseMsg reads English text back into the message it renders, when it is one:
// texts stored before messages had codes (old timeline entries, the order's
// provider message, a status change's reason), so that they too reach readers in
// their language. ok is false for any other text, which is shown as it is.
func ParseMsg(s string) (Msg, bool) {
	if s == "" {
		return Msg{}, false
	}
	for _, p := range parsers() {
		sub := p.re.FindStringSubmatch(s)
		if sub == nil {
			continue
		}
		m := Msg{Code: p.code}
		for i, name := range p.names {
			if sub[i+1] != "" {
				if m.Params == nil {
					m.Params = map[string]string{}
				}
				m.Params[name] = sub[i+1]
			}
		}
		return m, true
	}
	return Msg{}, false
}
