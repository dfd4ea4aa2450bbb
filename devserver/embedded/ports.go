package embedded

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowestPickedPort keeps picks clear of well-known and registered service ports.
const lowestPickedPort = 10000

// portPicker hands out ports below the kernel's ephemeral range. A port is checked free and
// then bound later by the server; ports for bind(:0) and for outgoing connections come from
// the ephemeral range, so in between nothing else takes a port picked below it. (The Web UI
// exits the whole process when its bind fails.)
type portPicker struct {
	high  int // first port of the ephemeral range
	given map[int]bool
}

func newPortPicker() *portPicker {
	return &portPicker{high: ephemeralLow(), given: map[int]bool{}}
}

// ephemeralLow reads where the kernel's ephemeral range starts; 0 when it cannot say.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return 0
	}
	return low
}

// pick returns a port on ip that nothing listens on and this picker has not given out.
func (p *portPicker) pick(ip string) (int, error) {
	if p.high-lowestPickedPort < 1000 {
		return kernelPort(ip)
	}
	var lastErr error
	for range 100 {
		port := lowestPickedPort + rand.IntN(p.high-lowestPickedPort)
		if p.given[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			lastErr = err
			continue
		}
		_ = l.Close()
		p.given[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("find a free port on %s between %d and %d: %w", ip, lowestPickedPort, p.high, lastErr)
}

// kernelPort lets the kernel choose, where its ephemeral range leaves no room below it.
func kernelPort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
