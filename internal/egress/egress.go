// Package egress decides where watan's outbound requests may go. Webhook URLs and
// provider base URLs come from tenants, so without a policy a tenant could make
// watan call its own database, the cloud's metadata service or anything else on
// the private network, and read the answer back through delivery records or
// provider messages (server-side request forgery).
//
// A URL is checked twice: when it is saved (CheckURL: a clear error for the user)
// and at every dial (Control: the address actually connected to, after DNS, so a
// name that later resolves to a private address — DNS rebinding — is refused too).
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrRefused is the error of a target the policy does not allow.
var ErrRefused = errors.New("refused by policy")

// Policy says which addresses outbound requests may reach. The zero value allows
// public addresses only.
type Policy struct {
	// AllowPrivate lets requests reach every address: for a closed network where
	// providers and storefronts live on private addresses.
	AllowPrivate bool
	// Allow lists prefixes reachable although they are not public (a provider in
	// the same private network, loopback for the demo's simulators).
	Allow []netip.Prefix
}

// ParsePrefixes parses a comma-separated list of CIDR prefixes or single addresses.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is neither a prefix nor an address", f)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix: %w", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Loopback is what the demo and tests allow for their simulators.
var Loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Ranges that are never public, beyond what netip.Addr's predicates cover.
var (
	cgnat      = netip.MustParsePrefix("100.64.0.0/10")
	thisNet    = netip.MustParsePrefix("0.0.0.0/8")
	reserved   = netip.MustParsePrefix("240.0.0.0/4") // with 255.255.255.255
	ietf       = netip.MustParsePrefix("192.0.0.0/24")
	benchmark  = netip.MustParsePrefix("198.18.0.0/15")
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	documented = []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"),
	}
)

// nonPublic names the kind of a non-public address, or "" for a public one.
func nonPublic(a netip.Addr) string {
	a = a.Unmap()
	if nat64.Contains(a) { // a public-looking IPv6 address that reaches an IPv4 one
		b := a.As16()
		return nonPublic(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsUnspecified(), thisNet.Contains(a):
		return "unspecified"
	case a.IsLinkLocalUnicast():
		return "link-local (cloud metadata lives here)"
	case a.IsPrivate():
		return "private"
	case cgnat.Contains(a):
		return "shared (CGNAT)"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	case reserved.Contains(a), ietf.Contains(a), benchmark.Contains(a):
		return "reserved"
	}
	for _, p := range documented {
		if p.Contains(a) {
			return "reserved"
		}
	}
	return ""
}

// CheckAddr returns an error wrapping ErrRefused unless a may be reached.
func (p Policy) CheckAddr(a netip.Addr) error {
	if p.AllowPrivate {
		return nil
	}
	a = a.Unmap()
	for _, allowed := range p.Allow {
		if allowed.Contains(a) {
			return nil
		}
	}
	if kind := nonPublic(a); kind != "" {
		return fmt.Errorf("%w: %s is a %s address", ErrRefused, a, kind)
	}
	return nil
}

// CheckURL checks a URL before it is saved: http or https, no user name or
// password in it, and a host that is a public address or a DNS name. Numeric hosts
// in forms other than the standard dotted quad ("127.1", "2130706433", "0x7f.1")
// are refused: some resolvers read them as addresses and some as names, and no
// legitimate endpoint needs them. The error wraps ErrRefused when the policy
// refuses the host, and never quotes the URL (it may hold a token).
func (p Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http or https URL")
	}
	if u.User != nil {
		return errors.New("must not carry a user name or password")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return errors.New("must name a host")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(a)
	}
	if p.AllowPrivate {
		return nil
	}
	host = strings.TrimSuffix(host, ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%w: localhost is a loopback name", ErrRefused)
	}
	if looksNumeric(host) {
		return fmt.Errorf("%w: %q is a numeric address in a non-standard form", ErrRefused, host)
	}
	return nil
}

// looksNumeric reports a host made only of digits, dots and hex notation, which
// is not a DNS name anyone registers but may be read as an IPv4 address.
func looksNumeric(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	// A top-level label that is a number (or 0x…) makes the whole host numeric
	// for inet_aton-style parsers.
	if strings.HasPrefix(last, "0x") {
		return true
	}
	return strings.Trim(last, "0123456789") == ""
}

// Control is a net.Dialer Control function: it refuses a connection to an address
// the policy does not allow, after name resolution, on every dial.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read the address being dialled", ErrRefused)
	}
	return p.CheckAddr(ap.Addr())
}

// Dialer returns a dialer with connect timeout that applies the policy.
func (p Policy) Dialer(connect net.Dialer) *net.Dialer {
	d := connect
	d.Control = p.Control
	return &d
}
