package cloudsiem

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Data-center region IDs as the API's RegionId parameter takes them.
const (
	RegionMainland = "cn-hangzhou"    // Chinese mainland and Hong Kong
	RegionOverseas = "ap-southeast-1" // outside China
)

// EndpointFor returns the public endpoint of a data center. The mainland data
// center's RegionId is cn-hangzhou but its host is in cn-shanghai: no
// cloud-siem host exists in cn-hangzhou (cloud-siem-api.md §1.2; the pairing
// is inferred and can be overridden with an explicit endpoint).
func EndpointFor(regionID string) (string, error) {
	switch regionID {
	case RegionMainland, "":
		return "https://cloud-siem.cn-shanghai.aliyuncs.com", nil
	case RegionOverseas:
		return "https://cloud-siem.ap-southeast-1.aliyuncs.com", nil
	}
	return "", fmt.Errorf("unknown data center %q: want %s or %s", regionID, RegionMainland, RegionOverseas)
}

// checkEndpoint accepts https URLs, and plain http only for loopback hosts
// (the emulator): credentials-signed traffic never crosses a network in clear.
// A trailing "/" is accepted (people paste it); any other path, a query, a
// fragment or user information is refused. Errors never echo a password.
func checkEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole input, password included.
		return nil, errors.New("endpoint: not a URL; want https://host[:port]")
	}
	shown := u.Redacted()
	switch {
	case u.User != nil:
		return nil, fmt.Errorf("endpoint %q: user information is not allowed; credentials come from the credentials chain", shown)
	case u.Host == "":
		return nil, fmt.Errorf("endpoint %q: no host; want https://host[:port]", shown)
	case u.Path != "" && u.Path != "/" || u.RawPath != "":
		return nil, fmt.Errorf("endpoint %q: a path is not allowed; want https://host[:port]", shown)
	case u.RawQuery != "" || u.ForceQuery:
		return nil, fmt.Errorf("endpoint %q: a query is not allowed; want https://host[:port]", shown)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, fmt.Errorf("endpoint %q: a fragment is not allowed; want https://host[:port]", shown)
	}
	u = &url.URL{Scheme: u.Scheme, Host: u.Host} // the request path "/" is added per request
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if isLoopback(u.Hostname()) {
			return u, nil
		}
		return nil, fmt.Errorf("endpoint %q: plain http is only allowed for loopback hosts", shown)
	}
	return nil, fmt.Errorf("endpoint %q: scheme must be https", shown)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
